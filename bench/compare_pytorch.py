#!/usr/bin/python3
"""Compare salun with PyTorch (CPU) on ResNet-18 and VGG-16-BN, CIFAR-10 sized inputs.

    /usr/bin/python3 bench/compare_pytorch.py [--arch resnet18|vgg16_bn|all] [--batch 128]
        [--threads 1,2] [--warmup 1] [--reps 5] [--salun build-bench/bench/salun-bench-models]
        [--json OUT] [--markdown]

For every thread count and model, the same two measurements are taken in both libraries:
  forward     eval mode, no gradient (torch.no_grad / salun::NoGradGuard), images/s
  train step  train mode: zero_grad, forward, cross_entropy, backward, SGD step
              (lr 0.01, momentum 0.9, weight decay 5e-4), images/s
Each figure is the median wall time of --reps repetitions after --warmup untimed ones. Every
(library, model, thread count) runs in its own process, so peak RSS (ru_maxrss) is per run;
PyTorch's figure includes the ~200-300 MiB that importing torch costs.

GFLOP/s uses the FLOP counts of /work/shared/design/anchors.md: ResNet-18 1.11 GFLOP forward,
3.3 per training step, per image; VGG-16-BN 0.63 and 1.9.

Needs PyTorch 1.13 (the Debian build at /usr/bin/python3) and torchvision for ResNet-18.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

FLOPS = {"resnet18": (1.11, 3.3), "vgg16_bn": (0.63, 1.9)}  # GFLOP per image: forward, train step
NAMES = {"resnet18": "ResNet-18", "vgg16_bn": "VGG-16-BN"}
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SALUN = os.path.join(os.path.dirname(HERE), "build-bench", "bench", "salun-bench-models")


# ---- PyTorch side (runs in a child process per configuration) -----------------------------------
def make_model(arch):
    import torch.nn as nn

    if arch == "resnet18":
        import torchvision

        m = torchvision.models.resnet18(num_classes=10)
        m.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        m.maxpool = nn.Identity()
        return m
    if arch == "vgg16_bn":
        cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
        layers, c = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1, bias=True), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                c = v
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(512, 10))
    raise SystemExit(f"unknown arch {arch}")


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def torch_worker(arch, threads, batch, warmup, reps, seed):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = make_model(arch)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))

    model.eval()
    fwd = []
    with torch.no_grad():
        for i in range(warmup + reps):
            t0 = time.perf_counter()
            model(x)
            if i >= warmup:
                fwd.append(time.perf_counter() - t0)

    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    step = []
    for i in range(warmup + reps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if i >= warmup:
            step.append(time.perf_counter() - t0)

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"arch": arch, "threads": torch.get_num_threads(), "fwd_s": median(fwd),
                      "step_s": median(step), "peak_rss_mib": rss, "torch": torch.__version__}))


# ---- driver -----------------------------------------------------------------------------------
def run_torch(arch, threads, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--_worker", arch, str(threads), str(args.batch),
           str(args.warmup), str(args.reps), str(args.seed)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_salun(arch, threads, args):
    out_json = f"/tmp/salun-bench-models-{os.getpid()}-{arch}-{threads}.json"
    cmd = [args.salun, "--arch", arch, "--threads", str(threads), "--batch", str(args.batch),
           "--warmup", str(args.warmup), "--reps", str(args.reps), "--seed", str(args.seed), "--json", out_json]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"salun-bench-models failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    with open(out_json) as f:
        js = json.load(f)
    os.unlink(out_json)
    m = js["models"][0]
    return {"fwd_s": m["forward"]["s_per_batch"], "step_s": m["train_step"]["s_per_batch"],
            "peak_rss_mib": m["peak_rss_mib"], "phases_s": m["train_step"]["phases_s"],
            "backward_breakdown": m.get("backward_breakdown"), "stdout": proc.stdout}


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:
        return "n/a"


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--_worker":
        a = sys.argv[2:]
        torch_worker(a[0], int(a[1]), int(a[2]), int(a[3]), int(a[4]), int(a[5]))
        return

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", default="all", choices=["resnet18", "vgg16_bn", "all"])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--salun", default=DEFAULT_SALUN, help="path to salun-bench-models")
    p.add_argument("--json", help="also write every measurement here")
    p.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    p.add_argument("--verbose", action="store_true", help="echo salun-bench-models' own output")
    args = p.parse_args()
    if not os.access(args.salun, os.X_OK):
        raise SystemExit(f"{args.salun} is not an executable; build the salun-bench-models target or pass --salun")

    archs = ["resnet18", "vgg16_bn"] if args.arch == "all" else [args.arch]
    threads_list = [int(t) for t in args.threads.split(",") if t]
    results = []
    print(f"batch {args.batch}, warm-up {args.warmup}, {args.reps} reps (median wall time), "
          f"load average at start {loadavg()}", flush=True)

    for nt in threads_list:
        rows = []
        for arch in archs:
            la0 = loadavg()
            pt = run_torch(arch, nt, args)
            sl = run_salun(arch, nt, args)
            if args.verbose:
                print(sl["stdout"])
            rows.append((arch, pt, sl))
            results.append({"arch": arch, "threads": nt, "batch": args.batch, "reps": args.reps,
                            "loadavg_before": la0, "loadavg_after": loadavg(),
                            "pytorch": pt, "salun": {k: v for k, v in sl.items() if k != "stdout"}})
        print_table(nt, rows, args)

    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


def print_table(nt, rows, args):
    n = args.batch
    hdr = ["model", "pass", "PyTorch img/s", "salun img/s", "salun/PyTorch", "PyTorch GFLOP/s",
           "salun GFLOP/s", "PyTorch RSS MiB", "salun RSS MiB"]
    lines = []
    for arch, pt, sl in rows:
        for i, (label, key) in enumerate((("forward", "fwd_s"), ("train step", "step_s"))):
            ip, isl = n / pt[key], n / sl[key]
            g = FLOPS[arch][i]
            lines.append([NAMES[arch], label, f"{ip:.1f}", f"{isl:.1f}", f"{isl / ip:.2f}", f"{ip * g:.1f}",
                          f"{isl * g:.1f}", f"{pt['peak_rss_mib']:.0f}", f"{sl['peak_rss_mib']:.0f}"])
    print(f"\n{nt} thread(s), batch {n}:")
    if args.markdown:
        print("| " + " | ".join(hdr) + " |")
        print("|" + "|".join("---" if i < 2 else "---:" for i in range(len(hdr))) + "|")
        for l in lines:
            print("| " + " | ".join(l) + " |")
    else:
        w = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(hdr)]
        print("  ".join(h.ljust(w[i]) if i < 2 else h.rjust(w[i]) for i, h in enumerate(hdr)))
        for l in lines:
            print("  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(l)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
