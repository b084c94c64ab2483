"""Where the kept-unit path beats the full layer: the rule behind ``region_path="auto"``.

    python -m benchmarks kept-crossover [--out DIR] [--max-layer N] [--from-log FILE]

For the conv layers of three models (the trained ``dcgan-mnist``, the random
PyTorch-examples 64x64 DCGAN and the random 64x64 PGGAN of ``python -m benchmarks``)
and random kept fractions from 0.2 % to 20 % of the query's signs: the time of one
membership test of 32 candidates through the full layer and through the
position-grouped kept path (the prefix ``f_{l-1:1}`` included in both, as in
GB-RRT), against the ratio of multiply-adds (:func:`gbas_jax.core.kept.mac_ratio`:
the full layer as the compiled program computes it, over the grouped path's
``P * T * C``).  The crossover is the MAC ratio above which the kept path won at
every measured point; the report also gives the least-regret threshold and the
least-regret three-parameter cost model that ``gbas_jax/core/kept.py`` uses on CPUs
(``KEPT_MAC_COST_CPU``, ``KEPT_GATHER_COST_CPU``, ``KEPT_POSITION_COST_CPU``).  Writes ``kept_crossover.json``,
``.md`` and ``.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

from gbas_jax.core import kept

from . import suite
from .common import record_header, write_json, write_text

PROG = "python -m benchmarks kept-crossover"
OUT = os.path.join(os.path.dirname(__file__), "results", "cpu")
FRACTIONS = (0.002, 0.01, 0.03, 0.1, 0.2)


def measure(models=("dcgan-mnist", "dcgan64", "pggan64"), max_layer=None):
    rows = []
    for name in models:
        gen = suite.model(name)
        z0 = jax.random.normal(jax.random.key(1), (gen.latent_dim,))
        for layer in range(2, min(gen.num_layers, max_layer or gen.num_layers) + 1):
            lm = gen.linear_map(layer)
            a0 = gen.boundary(z0[None], layer)[0]
            full = suite._membership_fn(gen, layer, jnp.sign(a0).astype(jnp.int8), None)
            # the faster of two timings: the first program a process timed ran 3-4x slow
            # (dcgan-mnist layer 2: 130-147 us a candidate, then 35 us in the same process)
            t_full = min(suite._per_batch(full, 32, gen.latent_dim) for _ in range(2)) / 32
            for frac in FRACTIONS:
                keep = jax.random.uniform(jax.random.key(int(frac * 1e4) + layer), a0.shape) < frac
                V = np.asarray(jnp.where(keep, jnp.sign(a0), 0).astype(jnp.int8))
                sizes = kept.plan(gen, layer, V, "kept")
                if sizes is None:
                    continue
                t_kept = suite._per_batch(suite._membership_fn(gen, layer, V, sizes), 32, gen.latent_dim) / 32
                ratio = kept.mac_ratio(gen, layer, lm.geometry, sizes[1], sizes[2], jax.default_backend())
                rows.append({"model": name, "layer": layer, "fraction": frac, "kept": int(np.count_nonzero(V)),
                             "sizes": list(sizes[1:]), "mac_ratio": ratio, "full_us": t_full * 1e6,
                             "kept_us": t_kept * 1e6, "speedup": t_full / t_kept})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def crossover(rows):
    """The smallest MAC ratio above which every measured point was faster kept."""
    ratios = sorted({r["mac_ratio"] for r in rows})
    for x in ratios:
        if all(r["speedup"] >= 1.0 for r in rows if r["mac_ratio"] >= x):
            return x
    return None


def _regret(rows, takes_kept):
    """Points that ``takes_kept(row)`` sends the slower way, and the time that
    costs: ``(sum of |log speed-up| over them, them)``."""
    wrong = [r for r in rows if takes_kept(r) != (r["speedup"] > 1.0)]
    return sum(abs(math.log(r["speedup"])) for r in wrong), wrong


def least_regret_threshold(rows):
    """The threshold ``t`` (kept path when the MAC ratio exceeds ``t``), among the
    measured ratios, that loses the least time over all points (:func:`_regret`).
    Returns ``(t, regret, wrong)``; the smallest such ``t`` on ties."""
    best = None
    for t in sorted({r["mac_ratio"] for r in rows}):
        regret, wrong = _regret(rows, lambda r: r["mac_ratio"] > t)
        if best is None or regret < best[1] - 1e-12:
            best = (t, regret, wrong)
    return best


def least_regret_cost_model(rows):
    """The CPU cost model of ``kept.plan``: the kept path when the MAC ratio exceeds
    ``A + B / C + D * P`` (``A`` per kept multiply-add, ``B`` per gathered input, ``C``
    kept channels per position, ``D`` per position of the ``P``), ``(A, B, D)`` on a
    grid, least regret as :func:`least_regret_threshold`.  Returns ``(A, B, D,
    regret, wrong)``."""
    best = None
    for a in [0.0] + [0.5 * 2 ** (i / 8) for i in range(49)]:
        for b in [0.0] + [2 ** (i / 6) for i in range(55)]:
            for d in [0.0] + [0.001 * 2 ** (i / 4) for i in range(40)]:
                regret, wrong = _regret(rows, lambda r: r["mac_ratio"] > a + b / r["sizes"][1] + d * r["sizes"][0])
                if best is None or regret < best[3] - 1e-12:
                    best = (a, b, d, regret, wrong)
    return best


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--from-log", metavar="FILE",
                    help="write the report from the JSON rows an earlier run printed (one per line; a run "
                         "stopped part-way keeps the rows it measured) instead of measuring")
    ap.add_argument("--max-layer", type=int, default=None,
                    help="measure conv layers 2..N of each model only (default: all)")
    return ap


def run(args) -> dict:
    """The record: the common header, ``device`` and ``jax``, the measured points
    (``rows``; read from ``--from-log`` instead when given) and the fitted rules."""
    command = PROG + (f" --max-layer {args.max_layer}" if args.max_layer else "")
    if args.from_log:
        with open(args.from_log) as f:
            rows = [json.loads(line) for line in f if line.startswith("{")]
        command += f" (rows printed by that run, {len(rows)} points, written with --from-log)"
        header = record_header(command)
    else:
        header = record_header(command)
        jax.config.update("jax_default_matmul_precision", "highest")
        rows = measure(max_layer=args.max_layer)
    mach = header["machine"]
    return {**header, "device": mach["device_kind"], "jax": mach["jax"], "rows": rows,
            "crossover_mac_ratio": crossover(rows), "least_regret_threshold": least_regret_threshold(rows)[0],
            "least_regret_cost_model": least_regret_cost_model(rows)[:3]}


def rule_summary(rec) -> str:
    """The crossover, the least-regret threshold and cost model of a record, and the
    rule ``gbas_jax.core.kept`` uses, as one markdown paragraph per rule (the
    report's and docs/performance.md's ``kept-rule`` block)."""
    rows, x = rec["rows"], rec["crossover_mac_ratio"]
    lines = []
    lines += [f"Crossover: the kept path won at every point with a MAC ratio >= {x:.1f}." if x else
              "No MAC ratio above which the kept path always won."]
    t, regret, wrong = least_regret_threshold(rows)
    lines += ["", f"Least-regret threshold: kept above a MAC ratio of {t:g}; it sends {len(wrong)} of {len(rows)} "
              f"points the slower way, losing at most {max([0.0] + [max(r['speedup'], 1 / r['speedup']) for r in wrong]):.2f}x "
              f"at one point (sum of |log speed-up| {regret:.2f})."]
    a, b, d = rec["least_regret_cost_model"]          # fitted by run(); the grid search takes seconds
    regret2, wrong2 = _regret(rows, lambda r: r["mac_ratio"] > a + b / r["sizes"][1] + d * r["sizes"][0])
    ours = _regret(rows, lambda r: r["mac_ratio"] > kept.min_mac_ratio("cpu", r["sizes"][1], r["sizes"][0]))
    lines += ["", f"Least-regret cost model: kept above a MAC ratio of A + B / C + D * P (C kept channels at each "
              f"of P positions) with A = {a:.2f}, B = {b:.1f}, D = {d:.4f}; it sends {len(wrong2)} of {len(rows)} "
              f"points the slower way, losing at most "
              f"{max([1.0] + [max(r['speedup'], 1 / r['speedup']) for r in wrong2]):.2f}x at one point "
              f"(sum of |log speed-up| {regret2:.2f}). `gbas_jax.core.kept` uses A = {kept.KEPT_MAC_COST_CPU:g}, "
              f"B = {kept.KEPT_GATHER_COST_CPU:g}, D = {kept.KEPT_POSITION_COST_CPU:g} (round values in the fit's "
              f"flat optimum): {len(ours[1])} points the slower way (sum of |log speed-up| {ours[0]:.2f})."]
    return "\n".join(lines)


def report(rec) -> str:
    """The markdown page of a record (:func:`run`)."""
    rows = rec["rows"]
    lines = ["# Kept path against the full layer", "",
             f"`{rec['command']}` on {rec['device']} (jax {rec['jax']}): "
             "one membership test of 32 candidates, microseconds per candidate, prefix included.", "",
             "| model | layer | kept fraction | kept | P x C | MAC ratio | full us | kept us | speed-up |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['layer']} | {r['fraction']} | {r['kept']} | {r['sizes'][0]} x "
                     f"{r['sizes'][1]} | {r['mac_ratio']:.1f} | {r['full_us']:.1f} | {r['kept_us']:.1f} | "
                     f"{r['speedup']:.2f} |")
    lines += ["", rule_summary(rec)]
    return "\n".join(lines) + "\n"


def plot(rec, path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows, x = rec["rows"], rec["crossover_mac_ratio"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in dict.fromkeys(r["model"] for r in rows):
        sel = [r for r in rows if r["model"] == name]
        ax.scatter([r["mac_ratio"] for r in sel], [r["speedup"] for r in sel], label=name, s=18)
    ax.axhline(1.0, color="gray", lw=0.8)
    if x:
        ax.axvline(x, color="tab:red", lw=0.8, ls="--", label=f"crossover {x:.1f}")
    t = rec["least_regret_threshold"]
    ax.axvline(t, color="tab:green", lw=0.8, ls=":", label=f"least regret {t:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("multiply-adds: full layer / kept path")
    ax.set_ylabel("speed-up of the kept path")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    rec = run(args)
    os.makedirs(args.out, exist_ok=True)
    write_json(os.path.join(args.out, "kept_crossover.json"), rec)
    write_text(os.path.join(args.out, "kept_crossover.md"), report(rec))
    plot(rec, os.path.join(args.out, "kept_crossover.png"))
    print("crossover", rec["crossover_mac_ratio"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
