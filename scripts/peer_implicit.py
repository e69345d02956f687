#!/usr/bin/env python3
"""Train the `implicit` library's CPU ALS on a cinerec exchange folder and time it.

Runs inside the peer venv (see scripts/compare-implicit, which creates it):

    $HOME/.cache/cinerec/peer-venv/bin/python scripts/peer_implicit.py DIR \
        --factors 64 --iterations 15 --regularization 0.01 --alpha 2.0 --solver cg --threads 2

DIR was written by `cinerec peer prepare` (format: training/src/exchange.rs):

    DIR/meta.json                       dataset, split, seed, n_users, n_items
    DIR/{train,test}/meta.json          n_users, n_items, nnz, dataset, split, seed
    DIR/{train,test}/indptr.i64         n_users + 1 little-endian i64
    DIR/{train,test}/indices.i32        nnz little-endian i32 (item indices, sorted per row)
    DIR/{train,test}/data.f32           nnz little-endian f32 (the matrix values)

and this script writes DIR/runs/<run>/ with user_factors.f32 and item_factors.f32 (row-major
little-endian f32), factors.json (shapes) and timing.json.

Identical objective. cinerec's implicit ALS uses confidence c = 1 + alpha * r for a stored value r.
implicit 0.7.3 uses c = alpha_implicit * r (it multiplies the matrix by its `alpha` when
alpha != 1) and solves, per row, (Y^T Y + lambda I + sum_i (c_i - 1) y_i y_i^T) x = sum_i c_i y_i;
cinerec solves the same system with its c. So this script hands implicit the matrix with values
1 + alpha * r and alpha = 1.0: both libraries then minimise the same loss, with the same lambda
(plain L2, not frequency-scaled), the same uniform [0, 0.01) initialisation and 3 CG steps.

`--implicit-defaults` instead runs implicit with its own defaults (factors 100,
regularization 0.01, alpha 1.0, 15 iterations, CG) on the matrix as stored (binary positives),
for the "cinerec defaults vs implicit defaults" quality comparison.

Timing: OPENBLAS_NUM_THREADS=1 (set before numpy loads, then checked with threadpoolctl), one
untimed 2-iteration warm-up fit, then `--repeats` fits of fresh models; implicit's fit callback
reports each iteration's wall time (both half-steps), and the median over all iterations of all
timed fits is the seconds-per-iteration figure.
"""

import os

# Must precede the numpy import: implicit's solvers call BLAS from many OpenMP threads.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse  # noqa: E402
import threadpoolctl  # noqa: E402

import implicit  # noqa: E402
from implicit.cpu.als import AlternatingLeastSquares  # noqa: E402

FORMAT_VERSION = 2
IMPLICIT_DEFAULTS = {"factors": 100, "regularization": 0.01, "alpha": 1.0, "iterations": 15}


def run_name(factors, solver, iterations, threads, implicit_defaults):
    """Folder name under DIR/runs/; cinerec computes the same name (training/src/exchange.rs)."""
    if implicit_defaults:
        return f"implicit-defaults-t{threads}"
    return f"implicit-f{factors}-{solver}-i{iterations}-t{threads}"


def read_csr(folder):
    """Reads one exchange CSR (train or test) as a scipy csr_matrix plus its meta."""
    meta = json.loads((folder / "meta.json").read_text())
    if meta.get("format_version") != FORMAT_VERSION:
        sys.exit(f"{folder}/meta.json: format_version {meta.get('format_version')}, expected {FORMAT_VERSION}")
    n_users, n_items, nnz = meta["n_users"], meta["n_items"], meta["nnz"]
    indptr = np.fromfile(folder / "indptr.i64", dtype="<i8")
    indices = np.fromfile(folder / "indices.i32", dtype="<i4")
    data = np.fromfile(folder / "data.f32", dtype="<f4")
    if len(indptr) != n_users + 1 or len(indices) != nnz or len(data) != nnz or indptr[-1] != nnz:
        sys.exit(f"{folder}: array lengths disagree with meta.json ({meta})")
    # scipy picks one index dtype for both arrays (int32 when nnz fits), which implicit's
    # Cython kernels need (their `integral` fused type is shared by indptr and indices).
    matrix = scipy.sparse.csr_matrix((data, indices, indptr), shape=(n_users, n_items))
    return matrix, meta


def check_blas_single_threaded():
    """Every BLAS in the process must run single-threaded; returns what threadpoolctl saw."""
    info = threadpoolctl.threadpool_info()
    for lib in info:
        if lib["user_api"] == "blas" and lib["num_threads"] != 1:
            sys.exit(f"BLAS {lib['filepath']} runs {lib['num_threads']} threads; expected 1")
    return [
        {k: lib.get(k) for k in ("user_api", "internal_api", "num_threads", "architecture", "version")}
        for lib in info
    ]


def new_model(args):
    return AlternatingLeastSquares(
        factors=args.factors,
        regularization=args.regularization,
        alpha=args.implicit_alpha,
        iterations=args.iterations,
        use_cg=args.solver == "cg",
        num_threads=args.threads,
        random_state=args.seed,
        calculate_training_loss=False,
    )


def timed_fit(args, matrix):
    """One fit of a fresh model; returns the model and its per-iteration seconds."""
    model = new_model(args)
    model.cg_steps = args.cg_steps
    seconds = []
    start = time.perf_counter()
    model.fit(matrix, show_progress=False, callback=lambda _it, elapsed, _loss: seconds.append(elapsed))
    total = time.perf_counter() - start
    return model, seconds, total


def write_f32(path, array):
    np.ascontiguousarray(array, dtype="<f4").tofile(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", type=Path, help="exchange folder written by `cinerec peer prepare`")
    parser.add_argument("--factors", type=int, default=64, help="latent factors (default 64)")
    parser.add_argument("--iterations", type=int, default=15, help="ALS iterations (default 15)")
    parser.add_argument("--regularization", type=float, default=0.01, help="L2 lambda (default 0.01)")
    parser.add_argument(
        "--alpha", type=float, default=1.0, help="cinerec's alpha: implicit gets values 1 + alpha*r (default 1.0)"
    )
    parser.add_argument("--solver", choices=["cg", "cholesky"], default="cg", help="row solver (default cg)")
    parser.add_argument("--cg-steps", type=int, default=3, help="CG steps per row (default 3, implicit's)")
    parser.add_argument("--threads", type=int, default=2, help="OpenMP threads for implicit (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed fits after the warm-up (default 3, min 3)")
    parser.add_argument("--seed", type=int, default=42, help="implicit's random_state (default 42)")
    parser.add_argument(
        "--implicit-defaults",
        action="store_true",
        help="implicit's own defaults (factors 100, lambda 0.01, alpha 1, 15 iterations, CG) on the stored matrix",
    )
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up fit")
    args = parser.parse_args()
    if args.repeats < 3:
        parser.error("--repeats must be at least 3")
    if args.threads < 1:
        parser.error("--threads must be at least 1 (0 would mean every core)")

    train, meta = read_csr(args.dir / "train")
    if args.implicit_defaults:
        args.factors = IMPLICIT_DEFAULTS["factors"]
        args.regularization = IMPLICIT_DEFAULTS["regularization"]
        args.iterations = IMPLICIT_DEFAULTS["iterations"]
        args.solver = "cg"
        args.cg_steps = 3
        args.implicit_alpha = IMPLICIT_DEFAULTS["alpha"]
        args.alpha = None
        matrix = train
        objective = "implicit defaults on the stored matrix: c = 1.0 * r"
    else:
        # Same confidence as cinerec: c = 1 + alpha * r, passed as values with implicit's alpha = 1.
        args.implicit_alpha = 1.0
        matrix = train.copy()
        matrix.data = (1.0 + args.alpha * matrix.data).astype(np.float32)
        objective = f"c = 1 + {args.alpha} * r (values 1 + alpha*r, implicit alpha = 1.0), lambda = {args.regularization}"

    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        blas = check_blas_single_threaded()
        if not args.no_warmup:
            warm = argparse.Namespace(**{**vars(args), "iterations": min(2, args.iterations)})
            timed_fit(warm, matrix)
        per_iteration, totals = [], []
        model = None
        for _ in range(args.repeats):
            model, seconds, total = timed_fit(args, matrix)
            per_iteration.extend(seconds)
            totals.append(total)

    name = run_name(args.factors, args.solver, args.iterations, args.threads, args.implicit_defaults)
    out = args.dir / "runs" / name
    out.mkdir(parents=True, exist_ok=True)
    write_f32(out / "user_factors.f32", model.user_factors)
    write_f32(out / "item_factors.f32", model.item_factors)
    (out / "factors.json").write_text(
        json.dumps(
            {
                "format_version": FORMAT_VERSION,
                "dtype": "f32-le",
                "order": "row-major",
                "n_users": int(model.user_factors.shape[0]),
                "n_items": int(model.item_factors.shape[0]),
                "factors": int(model.user_factors.shape[1]),
            },
            indent=2,
        )
        + "\n"
    )
    timing = {
        "format_version": FORMAT_VERSION,
        "library": "implicit",
        "version": implicit.__version__,
        "run": name,
        "dataset": meta["dataset"],
        "split": meta["split"],
        "nnz": meta["nnz"],
        "factors": args.factors,
        "iterations": args.iterations,
        "regularization": args.regularization,
        "alpha": args.alpha,
        "implicit_alpha": args.implicit_alpha,
        "solver": args.solver,
        "cg_steps": args.cg_steps,
        "threads": args.threads,
        "seed": args.seed,
        "implicit_defaults": args.implicit_defaults,
        "objective": objective,
        "repeats": args.repeats,
        "warmup": not args.no_warmup,
        "seconds_per_iteration": statistics.median(per_iteration),
        "iteration_seconds": per_iteration,
        "fit_seconds": totals,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "blas": blas,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }
    (out / "timing.json").write_text(json.dumps(timing, indent=2) + "\n")
    print(
        f"implicit {implicit.__version__} {name}: {timing['seconds_per_iteration']:.4f} s/iter "
        f"(median of {len(per_iteration)} iterations over {args.repeats} fits), "
        f"peak RSS {timing['peak_rss_bytes'] / 2**20:.0f} MiB -> {out}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
