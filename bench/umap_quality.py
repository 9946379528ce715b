#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Quality of salun's UMAP against umap-learn on the same features: scikit-learn's
trustworthiness at k = 9 for both embeddings, and both run times.

Input: the folder salun-bench-points wrote (features.f32 [n, d], ours_1t.f32 / ours_2t.f32
[n, 2], meta.json with our timings). umap-learn runs with the results' parameters
(n_neighbors 9, min_dist 0.45, random_state 2048; otherwise its defaults: Euclidean,
spectral initialisation) and with init="pca" (our fallback for disconnected graphs). The first umap-learn
call pays numba's JIT compilation; it is timed separately and left out of the comparison.

    build/bench/salun-bench-points resnet18 ../shared/models/resnet18_cifar10.safetensors DATA OUT
    python3 bench/umap_quality.py OUT          # needs: pip install umap-learn scikit-learn
"""
import json
import os
import sys
import time
import warnings

import numpy as np
import sklearn
import umap
from sklearn.manifold import trustworthiness
from sklearn.neighbors import NearestNeighbors

warnings.filterwarnings("ignore")


def run_umap(x, init):
    t = time.perf_counter()
    y = umap.UMAP(n_neighbors=9, min_dist=0.45, n_components=2, random_state=2048, init=init).fit_transform(x)
    return y, time.perf_counter() - t


def main():
    out = sys.argv[1]
    meta = json.load(open(os.path.join(out, "meta.json")))
    n, d = meta["n"], meta["d"]
    x = np.fromfile(os.path.join(out, "features.f32"), dtype=np.float32).reshape(n, d)
    labels = np.fromfile(os.path.join(out, "labels.i64"), dtype=np.int64)
    print(f"features {n} x {d} ({meta['arch']}, layer {meta['layer']}); umap-learn {umap.__version__}, "
          f"scikit-learn {sklearn.__version__}")

    _, jit = run_umap(x[:200], "spectral")  # numba compiles here
    print(f"umap-learn first call (numba JIT, 200 points): {jit:.1f} s")

    rows = []
    for threads in ("1t", "2t"):
        y = np.fromfile(os.path.join(out, f"ours_{threads}.f32"), dtype=np.float32).reshape(n, 2)
        rows.append((f"salun, {meta.get('init', 'pca')} init ({threads[0]} thread{'s' if threads == '2t' else ''})", y,
                     meta[f"umap_seconds_{threads}"]))
    for init in ("spectral", "pca"):
        y, s = run_umap(x, init)
        rows.append((f"umap-learn, {init} init", y, s))
        np.save(os.path.join(out, f"umap_learn_{init}.npy"), y)

    def knn_label_agreement(y, k=9):  # share of embedded neighbours with the same true class
        nb = NearestNeighbors(n_neighbors=k).fit(y).kneighbors(return_distance=False)  # itself excluded
        return float((labels[nb] == labels[:, None]).mean())

    result = {"n": n, "d": d, "umap_learn": umap.__version__, "rows": []}
    print(f"{'embedding':38s} {'trustworthiness(k=9)':>21s} {'seconds':>8s} {'9-NN same class':>16s}")
    for name, y, s in rows:
        t = trustworthiness(x, y, n_neighbors=9)
        a = knn_label_agreement(y)
        print(f"{name:38s} {t:21.4f} {s:8.2f} {a:16.3f}")
        result["rows"].append({"embedding": name, "trustworthiness": t, "seconds": s, "knn_same_class": a})
    result["input_knn_same_class"] = knn_label_agreement(x)
    print(f"(in the {d}-D features, 9-NN same class: {result['input_knn_same_class']:.3f})")
    json.dump(result, open(os.path.join(out, "quality.json"), "w"), indent=2)


if __name__ == "__main__":
    main()
