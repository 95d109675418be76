"""faiss IndexFlatIP exact inner-product search: the outside reference of `synthtune bench kernels`'
top-k rows. Reads the bench's own queries and corpus (raw little-endian float32 files), searches
with `--threads` OpenMP threads, prints one JSON line {"median_ms", "queries_per_s", "faiss"}.
Bench-only; never a runtime dependency of synthtune."""
import argparse
import json
import time

import faiss
import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--dim", type=int, required=True)
    ap.add_argument("--k", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    faiss.omp_set_num_threads(a.threads)
    q = np.fromfile(a.queries, dtype="<f4").reshape(-1, a.dim)
    c = np.fromfile(a.corpus, dtype="<f4").reshape(-1, a.dim)
    index = faiss.IndexFlatIP(a.dim)
    index.add(c)
    index.search(q[: min(len(q), 64)], a.k)  # warm-up
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        index.search(q, a.k)
        times.append((time.perf_counter() - t0) * 1e3)
    ms = float(np.median(times))
    print(json.dumps({"median_ms": ms, "queries_per_s": len(q) / ms * 1e3, "faiss": faiss.__version__}))


if __name__ == "__main__":
    main()
