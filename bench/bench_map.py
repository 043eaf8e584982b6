"""Benchmark per-profile average precision: copairs 0.5.5 vs ``morph_assets.lib.retrieval``.

Seeded profiles (default 20,000 x 300: 50 plates x 400 wells, 64 DMSO wells per plate, the
other wells 4 replicates of each compound on 4 different plates). Query = every profile;
positives = same compound (DMSO wells never positives: unique reference index); negatives =
every DMSO well (not restricted to the plate) - the heaviest CPJUMP1-style setting.

Each implementation runs in its own fresh subprocess (same data, same seed) and reports
seconds and peak resident memory above the process's level just before the call
(``resource.getrusage``: covers numpy, pandas and DuckDB allocations alike). The parent prints
both, the time and memory ratios (goal: >= 5x each) and the max |AP difference|.

Usage: ``python bench/bench_map.py [--plates 50] [--features 300] [--threads 1]``
(``--plates 12`` for a ~5,000-row version).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile


def _make_data(plates: int, features: int, seed: int = 0):
    import numpy as np
    import polars as pl

    wells, dmso = 400, 64
    treated_per_plate = wells - dmso
    n_treated = plates * treated_per_plate
    n_cpd = n_treated // 4
    rng = np.random.default_rng(seed)
    # Each compound: 4 replicates on 4 distinct plates (plate blocks of a shuffled layout).
    cpd_slots = np.repeat(np.arange(n_cpd), 4)
    cpd_plate = (np.tile(np.arange(4), n_cpd) * (plates // 4) + np.repeat(np.arange(n_cpd), 4) % (plates // 4)) % plates
    order = np.lexsort([rng.random(cpd_slots.size), cpd_plate])
    cpd_slots, cpd_plate = cpd_slots[order], cpd_plate[order]
    plate = np.concatenate([cpd_plate, np.repeat(np.arange(plates), dmso)])
    cpd = np.concatenate([cpd_slots.astype(str), np.full(plates * dmso, "DMSO")])
    is_ctrl = cpd == "DMSO"
    n = cpd.size
    meta = pl.DataFrame(
        {
            "Metadata_Plate": plate,
            "Metadata_broad_sample": cpd,
            "is_ctrl": is_ctrl,
            "ref": np.where(is_ctrl, np.arange(n), -1),
        }
    )
    signal = rng.normal(size=(n_cpd + 1, features)) * 0.5
    signal[-1] = 0.0
    sig_ix = np.where(is_ctrl, n_cpd, np.concatenate([cpd_slots, np.zeros(plates * dmso, int)]))
    x = signal[sig_ix] + rng.normal(size=(n, features))
    return meta, x


RULES = dict(
    pos_sameby=["Metadata_broad_sample", "ref"], pos_diffby=[], neg_sameby=[], neg_diffby=["is_ctrl"]
)


def _worker(which: str, plates: int, features: int, out: str) -> None:
    import resource
    import time

    import numpy as np

    meta, x = _make_data(plates, features)
    if which == "copairs":
        import copairs.map

        pdmeta = meta.to_pandas()
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        res = copairs.map.average_precision(pdmeta, x, batch_size=20000, progress_bar=False, **RULES)
        seconds = time.perf_counter() - t0
        ap = res["average_precision"].to_numpy(dtype=float)
    else:
        from morph_assets.lib.retrieval import average_precision

        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        res = average_precision(meta, x, **RULES)
        seconds = time.perf_counter() - t0
        ap = res["average_precision"].to_numpy().astype(float)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base  # KiB on Linux
    np.save(out, ap)
    print(f"{seconds} {peak / 1024}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plates", type=int, default=50)
    parser.add_argument("--features", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1, help="BLAS / DuckDB threads per run")
    parser.add_argument("--worker", choices=["copairs", "ours"])
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.plates, args.features, args.out)
        return

    import numpy as np

    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for which in ("ours", "copairs"):
            out = os.path.join(tmp, f"{which}.npy")
            cmd = [sys.executable, __file__, "--worker", which, "--plates", str(args.plates),
                   "--features", str(args.features), "--out", out]
            line = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
            seconds, mib = map(float, line.split()[-2:])
            results[which] = (seconds, mib, np.load(out))
    (t_c, m_c, ap_c), (t_o, m_o, ap_o) = results["copairs"], results["ours"]
    n = ap_o.size
    print(f"profiles: {n} x {args.features}, plates: {args.plates}, DMSO: {args.plates * 64} (all negatives)")
    print(f"copairs: {t_c:8.2f} s  peak +{m_c:8.1f} MiB")
    print(f"ours:    {t_o:8.2f} s  peak +{m_o:8.1f} MiB")
    print(f"speed-up: {t_c / t_o:.1f}x   memory ratio: {m_c / max(m_o, 1e-9):.1f}x")
    both = ~np.isnan(ap_c) & ~np.isnan(ap_o)
    assert (np.isnan(ap_c) == np.isnan(ap_o)).all(), "AP null pattern differs"
    print(f"max |AP difference|: {np.abs(ap_c[both] - ap_o[both]).max():.3e} over {both.sum()} APs")


if __name__ == "__main__":
    main()
