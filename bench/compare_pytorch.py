#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Compare salun with PyTorch (CPU) on ResNet-18 and VGG-16-BN, CIFAR-10 sized inputs.

    /usr/bin/python3 bench/compare_pytorch.py [--arch resnet18|vgg16_bn|all] [--batch 128]
        [--threads 1,2] [--warmup 1] [--reps 5] [--rounds 1] [--salun build-bench/bench/salun-bench-models]
        [--torch /usr/bin/python3[,/opt/torch-current/bin/python]]
        [--memory-format best|contiguous|channels_last] [--isa-limit avx2] [--json OUT] [--markdown]
        [--verbose]

For every thread count and model, the same two measurements are taken in both libraries:
  forward     eval mode, no gradient (torch.no_grad / salun::NoGradGuard), images/s
  train step  train mode: zero_grad, forward, cross_entropy, backward, SGD step
              (lr 0.01, momentum 0.9, weight decay 5e-4), images/s
Each figure is the median wall time of --reps repetitions after --warmup untimed ones.
--rounds R measures everything R times (salun first in every other round) and reports, per
figure, the median over the rounds and, per ratio, the median of the R rounds' ratios and their
range: on a machine whose speed drifts over minutes the range says whether a ratio stands above
the noise. Every
(library, model, thread count, memory format) runs in its own process, so peak RSS (ru_maxrss) is
per run; PyTorch's figure includes the ~200-300 MiB that importing torch costs.

--torch names the Python interpreters whose PyTorch is measured (default /usr/bin/python3, the
Debian PyTorch 1.13), e.g. also the venv of bench/setup_torch_current.sh (the current PyPI
release); each build is labelled by its torch.__version__ and gets its own salun/PyTorch ratio.
--memory-format best (the default) runs every PyTorch configuration twice, with the default
(contiguous, NCHW) memory format and with channels_last (model and input converted with
.to(memory_format=torch.channels_last)), and reports the faster of the two for each pass, naming
it; contiguous or channels_last measures that format only.

The output starts with the machine (CPU model, AVX2 / AVX-512 from /proc/cpuinfo), the ISA salun
was compiled for (from the build's compiler flags, see salun_build_info) and each PyTorch build
(version, CPU capability it dispatches to, oneDNN, BLAS).

--isa-limit avx2 measures both libraries as on a CPU without AVX-512, on this one: PyTorch's
kernels are held to AVX2 (ATEN_CPU_CAPABILITY=avx2 for ATen, ONEDNN_MAX_CPU_ISA=AVX2 and its
older name DNNL_MAX_CPU_ISA for oneDNN, MKL_ENABLE_INSTRUCTIONS=AVX2 for MKL,
OPENBLAS_CORETYPE=Haswell for OpenBLAS), and salun must be a build for AVX2 (e.g.
-DSALUN_NATIVE=OFF -DCMAKE_CXX_FLAGS=-march=x86-64-v3; the script refuses an AVX-512 one). The
caches, the clock and the core are still this machine's, so it stands in for an AVX2-only CPU of
the same generation, not for another vendor's.

GFLOP/s uses the FLOP counts of ../shared/design/anchors.md: ResNet-18 1.11 GFLOP forward,
3.3 per training step, per image; VGG-16-BN 0.63 and 1.9.

Needs torchvision next to each PyTorch for ResNet-18.
"""
import argparse
import json
import os
import re
import resource
import shlex
import subprocess
import sys
import time

FLOPS = {"resnet18": (1.11, 3.3), "vgg16_bn": (0.63, 1.9)}  # GFLOP per image: forward, train step
NAMES = {"resnet18": "ResNet-18", "vgg16_bn": "VGG-16-BN"}
FORMATS = ("contiguous", "channels_last")
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_SALUN = os.path.join(REPO, "build-bench", "bench", "salun-bench-models")
DEFAULT_TORCH = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


# ---- PyTorch side (runs in a child process per configuration, under the --torch interpreter) ----
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


def torch_worker(arch, threads, batch, warmup, reps, seed, fmt):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = make_model(arch)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    if fmt == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)

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
    print(json.dumps({"arch": arch, "threads": torch.get_num_threads(), "memory_format": fmt,
                      "fwd_s": median(fwd), "step_s": median(step), "peak_rss_mib": rss,
                      "torch": torch.__version__}))


def torch_info():
    """What the interpreter's PyTorch is: printed as one JSON line."""
    import platform

    import torch

    cfg = torch.__config__.show()

    def find(pattern):
        m = re.search(pattern, cfg)
        return m.group(1) if m else None

    try:
        import torchvision

        tv = torchvision.__version__
    except Exception as e:  # ResNet-18 needs it; VGG-16-BN does not
        tv = None
        print(f"torchvision not importable: {e}", file=sys.stderr)
    print(json.dumps({"version": torch.__version__, "torchvision": tv, "python": platform.python_version(),
                      "executable": sys.executable, "cpu_capability": find(r"CPU capability usage: (\S+)"),
                      "onednn": find(r"MKL-DNN v([0-9.]+)"), "blas": find(r"BLAS_INFO=(\w+)"),
                      "cuda_build": torch.version.cuda, "default_threads": torch.get_num_threads()}))


# ---- machine and build description --------------------------------------------------------------
def cpu_info():
    """CPU model and vector extensions from /proc/cpuinfo (first processor)."""
    info = {"model_name": None, "vendor": None, "family": None, "model": None, "logical_cpus": 0, "flags": []}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return info
    info["logical_cpus"] = len(re.findall(r"^processor\s*:", text, re.M))
    first = text.split("\n\n")[0]
    for key, field in (("model_name", "model name"), ("vendor", "vendor_id"), ("family", "cpu family"),
                       ("model", "model"), ("flags", "flags")):
        m = re.search(rf"^{field}\s*:\s*(.*)$", first, re.M)
        if m:
            info[key] = m.group(1).split() if key == "flags" else m.group(1).strip()
    flags = set(info["flags"])
    info["avx2"] = "avx2" in flags
    info["fma"] = "fma" in flags
    info["avx512"] = sorted(f[len("avx512"):].lstrip("_") for f in flags if f.startswith("avx512"))
    info["amx"] = sorted(f for f in flags if f.startswith("amx"))
    info["hypervisor"] = "hypervisor" in flags
    del info["flags"]
    return info


def cpu_summary(c):
    name = c["model_name"] or "unknown CPU"
    extra = []
    if c["family"] is not None:
        extra.append(f"family {c['family']}, model {c['model']}")
    extra.append(f"{c['logical_cpus']} logical CPUs")
    if c["hypervisor"]:
        extra.append("virtual machine")
    isa = [f"AVX2 {'yes' if c['avx2'] else 'no'}", f"FMA {'yes' if c['fma'] else 'no'}",
           "AVX-512 " + (f"yes ({' '.join(x.upper() for x in c['avx512'])})" if c["avx512"] else "no")]
    if c["amx"]:
        isa.append("AMX yes")
    return f"{name} ({', '.join(extra)})", ", ".join(isa)


def _run(cmd, **kw):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)
        return p.stdout + p.stderr if p.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def stale_binary(salun):
    """None when salun-bench-models is newer than every library header and the benchmark's own
    source; else the newest of those files and its time. This script does not build the binary,
    and a stale one would be reported under the checkout's commit."""
    try:
        built = os.path.getmtime(salun)
    except OSError:
        return None
    newest, newest_t = None, built
    for root in (os.path.join(REPO, "include"), os.path.join(REPO, "bench")):
        for d, _, files in os.walk(root):
            for name in files:
                if name.endswith((".hpp", ".cpp", ".h")):
                    p = os.path.join(d, name)
                    t = os.path.getmtime(p)
                    if t > newest_t:
                        newest, newest_t = p, t
    if newest is None:
        return None
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(newest_t))
    return f"{os.path.relpath(newest, REPO)} ({when})"


def salun_build_info(salun):
    """The ISA salun-bench-models was compiled for. First from the binary's own --help banner
    (a line 'compiled for: ...', if a future version prints one); otherwise from its build tree:
    the compile flags CMake used for bench_models.cpp (CMakeFiles/.../flags.make or
    compile_commands.json), fed to the same compiler with -dM -E to list the ISA macros that
    they enable (__AVX2__, __FMA__, __AVX512F__, ...). For -march=native that is this machine's
    ISA, i.e. right as long as the binary was built on this machine."""
    info = {"binary": salun, "isa_source": None, "isa": None, "march": None, "compiler": None,
            "build_type": None, "cxx_flags": None, "commit": None}
    out = _run([salun, "--help"]) or ""
    m = re.search(r"compiled for:?\s*(.+)", out)
    if m:
        info["isa"], info["isa_source"] = m.group(1).strip(), "binary"

    g = _run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    if g:
        dirty = _run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"])
        info["commit"] = g.strip() + ("-dirty" if dirty and dirty.strip() else "")
    info["stale"] = stale_binary(salun)
    if info["stale"]:
        # the commit above is the checkout's, which the binary does not contain: say so
        info["commit"] = f"{info['commit']} checked out, but the binary predates {info['stale']}"

    build = os.path.dirname(os.path.abspath(salun))
    for _ in range(3):
        if os.path.exists(os.path.join(build, "CMakeCache.txt")):
            break
        build = os.path.dirname(build)
    else:
        return info
    cache = {}
    with open(os.path.join(build, "CMakeCache.txt"), errors="replace") as f:
        for line in f:
            m = re.match(r"^([A-Za-z0-9_]+):[A-Z]+=(.*)$", line.rstrip("\n"))
            if m:
                cache[m.group(1)] = m.group(2)
    cxx = cache.get("CMAKE_CXX_COMPILER")
    info["build_type"] = cache.get("CMAKE_BUILD_TYPE")
    flags = None
    fm = os.path.join(build, "bench", "CMakeFiles", "salun-bench-models.dir", "flags.make")
    if os.path.exists(fm):
        with open(fm) as f:
            m = re.search(r"^CXX_FLAGS\s*=\s*(.*)$", f.read(), re.M)
            flags = m.group(1) if m else None
    cc = os.path.join(build, "compile_commands.json")
    if flags is None and os.path.exists(cc):
        with open(cc) as f:
            for e in json.load(f):
                if e.get("file", "").endswith("bench_models.cpp"):
                    flags = e.get("command", "")
                    break
    if flags is None:  # other generators: assume the project's default (SALUN_NATIVE)
        flags = " ".join(x for x in (cache.get("CMAKE_CXX_FLAGS", ""),
                                     "-march=native" if cache.get("SALUN_NATIVE", "").upper() in ("ON", "1", "TRUE") else ""))
    info["cxx_flags"] = flags.strip()
    if not cxx:
        return info
    v = _run([cxx, "--version"])
    info["compiler"] = v.splitlines()[0] if v else cxx
    mflags = [f for f in shlex.split(flags) if f.startswith("-m")]
    marches = [f for f in mflags if f.startswith("-march=")]
    if marches:
        info["march"] = marches[-1][len("-march="):]
        if info["march"] == "native":  # what native means here (GCC only)
            q = _run([cxx, "-march=native", "-Q", "--help=target"]) or ""
            m = re.search(r"^\s+-march=\s+(\S+)", q, re.M)
            if m:
                info["march"] = f"native (GCC: {m.group(1)} + the extensions it detects)"
    if info["isa"] is None:
        macros = _run([cxx, *mflags, "-dM", "-E", "-x", "c++", "/dev/null"])
        if macros:
            have = set(re.findall(r"#define (__[A-Z0-9_]+__) ", macros))
            avx512 = sorted(m[len("__AVX512"):-2] for m in have if re.match(r"__AVX512[A-Z0-9_]+__$", m))
            parts = []
            if avx512:
                parts.append("AVX-512 (" + " ".join(avx512) + ")")
            elif "__AVX2__" in have:
                parts.append("AVX2")
            elif "__AVX__" in have:
                parts.append("AVX")
            else:
                parts.append("SSE only (no AVX)")
            if "__FMA__" in have:
                parts.append("FMA")
            info["isa"], info["isa_source"] = " + ".join(parts), "build flags"
    return info


def describe_setup(args, cpu, sb, builds, formats):
    rows = []
    name, isa = cpu_summary(cpu)
    rows.append(("CPU", name))
    rows.append(("CPU vector ISA", isa))
    s = f"{sb['isa'] or 'unknown'} (from the {sb['isa_source'] or '?'}"
    if sb["march"]:
        s += f"; -march={sb['march']}"
    s += ")"
    rows.append(("salun compiled for", s))
    rows.append(("salun build", ", ".join(x for x in (
        f"commit {sb['commit']}" if sb["commit"] else None, sb["compiler"],
        sb["build_type"], f"`{sb['binary']}`") if x)))
    for b in builds:
        rows.append((b["label"], f"`{b['executable']}` (Python {b['python']}), torchvision {b['torchvision']}, "
                     f"CPU capability {b['cpu_capability']}, oneDNN {b['onednn']}, BLAS {b['blas']}"))
    if args.isa_limit:
        rows.append(("ISA limit", f"{args.isa_limit}: PyTorch under " +
                     " ".join(f"{k}={v}" for k, v in ISA_LIMIT_ENV[args.isa_limit].items()) +
                     "; salun as compiled (above)"))
    rows.append(("settings", f"batch {args.batch}, warm-up {args.warmup}, {args.reps} reps (median), seed "
                 f"{args.seed}; PyTorch memory format: " +
                 ("the faster of contiguous and channels_last per pass" if len(formats) > 1 else formats[0])))
    if args.markdown:
        print("\n| | |\n|---|---|")
        for k, v in rows:
            print(f"| {k} | {v} |")
    else:
        w = max(len(k) for k, _ in rows)
        for k, v in rows:
            print(f"{k.ljust(w)}  {v.replace('`', '')}")
    sys.stdout.flush()


# ---- driver -----------------------------------------------------------------------------------
# --isa-limit: the environment that holds each of PyTorch's kernel libraries to the level.
ISA_LIMIT_ENV = {"avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "DNNL_MAX_CPU_ISA": "AVX2",
                          "MKL_ENABLE_INSTRUCTIONS": "AVX2", "OPENBLAS_CORETYPE": "Haswell"}}


def torch_env(args, **extra):
    return dict(os.environ, **ISA_LIMIT_ENV.get(args.isa_limit, {}), **extra)


def torch_build(py, args):
    try:
        p = subprocess.run([py, os.path.abspath(__file__), "--_info"], capture_output=True, text=True,
                           env=torch_env(args))
    except OSError as e:
        raise SystemExit(f"--torch {py}: {e}")
    if p.returncode != 0:
        raise SystemExit(f"--torch {py}: cannot import torch ({p.returncode}):\n{p.stderr}")
    info = json.loads(p.stdout.strip().splitlines()[-1])
    info["python_path"] = py
    return info


def run_torch(build, arch, threads, fmt, args):
    cmd = [build["python_path"], os.path.abspath(__file__), "--_worker", arch, str(threads), str(args.batch),
           str(args.warmup), str(args.reps), str(args.seed), fmt]
    env = torch_env(args, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{build['label']} ({arch}, {threads} threads, {fmt}) failed ({proc.returncode}):\n"
                         f"{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def best_of(by_fmt):
    """Per pass, the faster memory format; RSS is that run's peak."""
    r = {"torch": next(iter(by_fmt.values()))["torch"], "by_format": by_fmt}
    for key, pref in (("fwd_s", "fwd"), ("step_s", "step")):
        fmt = min(by_fmt, key=lambda f: by_fmt[f][key])
        r[key], r[pref + "_format"], r[pref + "_rss_mib"] = by_fmt[fmt][key], fmt, by_fmt[fmt]["peak_rss_mib"]
    r["peak_rss_mib"] = max(r["fwd_rss_mib"], r["step_rss_mib"])
    return r


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
        torch_worker(a[0], int(a[1]), int(a[2]), int(a[3]), int(a[4]), int(a[5]), a[6] if len(a) > 6 else "contiguous")
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--_info":
        torch_info()
        return

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", default="all", choices=["resnet18", "vgg16_bn", "all"])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--rounds", type=int, default=1,
                   help="measure everything this many times, salun and PyTorch alternating which runs first; "
                        "report medians and each ratio's median and range over the rounds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--salun", default=DEFAULT_SALUN, help="path to salun-bench-models")
    p.add_argument("--torch", default=DEFAULT_TORCH, metavar="PY[,PY...]",
                   help="comma-separated Python interpreters whose PyTorch is measured (default %(default)s)")
    p.add_argument("--memory-format", default="best", choices=["best", *FORMATS],
                   help="PyTorch memory format: best = measure both, report the faster per pass (default)")
    p.add_argument("--isa-limit", choices=sorted(ISA_LIMIT_ENV),
                   help="hold PyTorch to this vector ISA (and require a salun build for it): a stand-in "
                        "for a CPU without AVX-512")
    p.add_argument("--json", help="also write every measurement here")
    p.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    p.add_argument("--verbose", action="store_true", help="echo salun-bench-models' own output")
    args = p.parse_args()
    if not os.access(args.salun, os.X_OK):
        raise SystemExit(f"{args.salun} is not an executable; build the salun-bench-models target or pass --salun")

    archs = ["resnet18", "vgg16_bn"] if args.arch == "all" else [args.arch]
    threads_list = [int(t) for t in args.threads.split(",") if t]
    formats = list(FORMATS) if args.memory_format == "best" else [args.memory_format]
    builds = [torch_build(py, args) for py in args.torch.split(",") if py]
    if not builds:
        raise SystemExit("--torch names no interpreter")
    for b in builds:
        b["label"] = f"PyTorch {b['version']}"
        if "resnet18" in archs and b["torchvision"] is None:
            raise SystemExit(f"{b['python_path']}: ResNet-18 needs torchvision, which does not import there")
    for b in builds:  # two interpreters with the same version: tell them apart by path
        if sum(c["label"] == b["label"] for c in builds) > 1:
            b["label"] = f"PyTorch {b['version']} ({b['python_path']})"
    cpu = cpu_info()
    sb = salun_build_info(args.salun)
    if args.isa_limit and (sb["isa"] is None or "AVX-512" in sb["isa"]):
        raise SystemExit(f"--isa-limit {args.isa_limit}: {args.salun} is built for {sb['isa'] or 'an unknown ISA'}; "
                         "build salun-bench-models for AVX2 (cmake -DSALUN_NATIVE=OFF "
                         "-DCMAKE_CXX_FLAGS=-march=x86-64-v3) and pass it with --salun")
    if sb["stale"]:
        print(f"compare_pytorch.py: warning: {args.salun} is older than {sb['stale']}: it does not measure "
              f"the checked-out code; rebuild it (cmake --build <its build folder> --target salun-bench-models)",
              file=sys.stderr, flush=True)

    print(f"batch {args.batch}, warm-up {args.warmup}, {args.reps} reps (median wall time), "
          f"load average at start {loadavg()}", flush=True)
    describe_setup(args, cpu, sb, builds, formats)

    if args.rounds < 1:
        raise SystemExit("--rounds must be at least 1")
    runs = {}  # (threads, arch) -> one (pts, sl, loadavg before, after) per round
    for rnd in range(args.rounds):
        if args.rounds > 1:
            print(f"round {rnd + 1}/{args.rounds}, load average {loadavg()}", file=sys.stderr, flush=True)
        for nt in threads_list:
            for arch in archs:
                la0 = loadavg()
                # odd rounds run salun first: a slow drift of the machine then favours neither side
                sl = run_salun(arch, nt, args) if rnd % 2 == 1 else None
                pts = [best_of({f: run_torch(b, arch, nt, f, args) for f in formats}) for b in builds]
                sl = sl or run_salun(arch, nt, args)
                if args.verbose:
                    print(sl["stdout"])
                runs.setdefault((nt, arch), []).append((pts, sl, la0, loadavg()))
            if args.rounds == 1:
                print_table(nt, [(arch, *combine_rounds(runs[(nt, arch)])) for arch in archs], builds, formats, args)
    if args.rounds > 1:
        for nt in threads_list:
            print_table(nt, [(arch, *combine_rounds(runs[(nt, arch)])) for arch in archs], builds, formats, args)

    results = []
    for (nt, arch), rr in runs.items():
        pts, sl = combine_rounds(rr)
        results.append({"arch": arch, "threads": nt, "batch": args.batch, "reps": args.reps,
                        "loadavg_before": rr[0][2], "loadavg_after": rr[-1][3],
                        "pytorch": pts[0],  # the first --torch build, as before
                        "pytorch_builds": {b["label"]: pt for b, pt in zip(builds, pts)},
                        "salun": {k: v for k, v in sl.items() if k != "stdout"},
                        "rounds": [{"pytorch_builds": {b["label"]: pt for b, pt in zip(builds, p)},
                                    "salun": {k: v for k, v in s.items() if k != "stdout"},
                                    "loadavg_before": a, "loadavg_after": z} for p, s, a, z in rr]})

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"setup": {"cpu": cpu, "salun": sb, "pytorch": builds, "memory_formats": formats,
                                 "isa_limit": args.isa_limit,
                                 "batch": args.batch, "warmup": args.warmup, "reps": args.reps,
                                 "rounds": args.rounds,
                                 "seed": args.seed},
                       "results": results}, f, indent=2)


def combine_rounds(rr):
    """One (pts, sl) from the rounds of one model and thread count: each side's seconds per batch
    is the median over the rounds (RSS the largest, a PyTorch pass's format the one most rounds
    chose), and every PyTorch build gets its salun/PyTorch ratios per round, pt["ratios"][key]."""
    sls = [sl for _, sl, _, _ in rr]
    sl = dict(sls[-1])
    for key in ("fwd_s", "step_s"):
        sl[key] = median([s[key] for s in sls])
    sl["peak_rss_mib"] = max(s["peak_rss_mib"] for s in sls)
    pts = []
    for i in range(len(rr[0][0])):
        rs = [p[i] for p, _, _, _ in rr]
        pt = dict(rs[0])
        pt["by_format"] = {f: {key: median([r["by_format"][f][key] for r in rs]) for key in ("fwd_s", "step_s")}
                           for f in rs[0]["by_format"]}
        for key, pref in (("fwd_s", "fwd"), ("step_s", "step")):
            pt[key] = median([r[key] for r in rs])
            fmts = [r[pref + "_format"] for r in rs]
            pt[pref + "_format"] = max(sorted(set(fmts)), key=fmts.count)
            pt[pref + "_rss_mib"] = max(r[pref + "_rss_mib"] for r in rs)
        pt["peak_rss_mib"] = max(r["peak_rss_mib"] for r in rs)
        pt["ratios"] = {key: [r[key] / s[key] for r, s in zip(rs, sls)] for key in ("fwd_s", "step_s")}
        pts.append(pt)
    return pts, sl


def print_table(nt, rows, builds, formats, args):
    n = args.batch
    labs = [b["label"] for b in builds]
    hdr = ["model", "pass", "salun img/s"]
    for lab in labs:
        hdr += [f"{lab} img/s"] + ([f"{lab} format"] if len(formats) > 1 else []) + [f"salun/{lab}"]
        hdr += [f"salun/{lab} range"] if args.rounds > 1 else []
    hdr += ["salun GFLOP/s"] + [f"{lab} GFLOP/s" for lab in labs]
    hdr += ["salun RSS MiB"] + [f"{lab} RSS MiB" for lab in labs]
    lines, notes = [], []
    for arch, pts, sl in rows:
        for i, (label, key, pref) in enumerate((("forward", "fwd_s", "fwd"), ("train step", "step_s", "step"))):
            g = FLOPS[arch][i]
            isl = n / sl[key]
            line = [NAMES[arch], label, f"{isl:.1f}"]
            for pt in pts:
                ip = n / pt[key]
                ratios = pt["ratios"][key]  # one per round; the median is the figure
                line += [f"{ip:.1f}"] + ([pt[pref + "_format"]] if len(formats) > 1 else [])
                line += [f"{median(ratios):.2f}"]
                line += [f"{min(ratios):.2f}-{max(ratios):.2f}"] if args.rounds > 1 else []
            line += [f"{isl * g:.1f}"] + [f"{n / pt[key] * g:.1f}" for pt in pts]
            line += [f"{sl['peak_rss_mib']:.0f}"] + [f"{pt[pref + '_rss_mib']:.0f}" for pt in pts]
            lines.append(line)
            if len(formats) > 1:
                for lab, pt in zip(labs, pts):
                    bf = pt["by_format"]
                    notes.append((lab, f"{NAMES[arch]} {label} "
                                       f"{bf['contiguous'][key] / bf['channels_last'][key]:.2f}"))
    rounds = f", {args.rounds} rounds: medians, ratios as median and range of the rounds' ratios" \
        if args.rounds > 1 else ""
    print(f"\n{nt} thread(s), batch {n}{rounds}:")
    if args.markdown:
        print()
        print("| " + " | ".join(hdr) + " |")
        print("|" + "|".join("---" if i < 2 else "---:" for i in range(len(hdr))) + "|")
        for l in lines:
            print("| " + " | ".join(l) + " |")
    else:
        w = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(hdr)]
        print("  ".join(h.ljust(w[i]) if i < 2 else h.rjust(w[i]) for i, h in enumerate(hdr)))
        for l in lines:
            print("  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(l)))
    if notes:
        print()
        for lab in labs:
            print(f"{lab}, channels_last speed-up over contiguous (above 1: channels_last faster): "
                  + "; ".join(t for l, t in notes if l == lab))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
