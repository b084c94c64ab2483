"""Where the kept-unit path beats the full layer: the rule behind ``region_path="auto"``.

    python -m benchmarks.kept_crossover [--out DIR]

For the conv layers of three models (the trained ``dcgan-mnist``, the random
PyTorch-examples 64x64 DCGAN and the random 64x64 PGGAN of ``python -m benchmarks``)
and random kept fractions from 0.2 % to 20 % of the query's signs: the time of one
membership test of 32 candidates through the full layer and through the
position-grouped kept path (the prefix ``f_{l-1:1}`` included in both, as in
GB-RRT), against the ratio of multiply-adds (the full layer as XLA computes it, all
``k^2`` taps, over the grouped path's ``P * T * C``).  The crossover is the MAC
ratio above which the kept path won at every measured point; ``KEPT_MIN_MAC_RATIO``
in ``gbas_jax/core/kept.py`` is set from it.  Writes ``kept_crossover.json``,
``.md`` and ``.png``.
"""

from __future__ import annotations

import argparse
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from gbas_jax.core import kept

from . import suite
from .records import write_json, write_text

OUT = os.path.join(os.path.dirname(__file__), "results", "cpu")
FRACTIONS = (0.002, 0.01, 0.03, 0.1, 0.2)


def measure(models=("dcgan-mnist", "dcgan64", "pggan64")):
    rows = []
    for name in models:
        gen = suite.model(name)
        z0 = jax.random.normal(jax.random.key(1), (gen.latent_dim,))
        for layer in range(2, gen.num_layers + 1):
            lm = gen.linear_map(layer)
            pos, _ = kept.tap_table(lm.geometry)
            a0 = gen.boundary(z0[None], layer)[0]
            t_full = suite._per_batch(suite._membership_fn(gen, layer, jnp.sign(a0).astype(jnp.int8), None), 32,
                                      gen.latent_dim) / 32
            for frac in FRACTIONS:
                keep = jax.random.uniform(jax.random.key(int(frac * 1e4) + layer), a0.shape) < frac
                V = np.asarray(jnp.where(keep, jnp.sign(a0), 0).astype(jnp.int8))
                sizes = kept.plan(gen, layer, V, "kept")
                if sizes is None:
                    continue
                t_kept = suite._per_batch(suite._membership_fn(gen, layer, V, sizes), 32, gen.latent_dim) / 32
                ratio = gen.layer_size(layer) * lm.geometry.kernel ** 2 / (sizes[1] * pos.shape[1] * sizes[2])
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--from-log", metavar="FILE",
                    help="write the report from the JSON rows an earlier run printed (one per line; a run "
                         "stopped part-way keeps the rows it measured) instead of measuring")
    args = ap.parse_args(argv)
    command = "python -m benchmarks.kept_crossover"
    if args.from_log:
        with open(args.from_log) as f:
            rows = [json.loads(line) for line in f if line.startswith("{")]
        command += f" (rows printed by that run, {len(rows)} points, written with --from-log)"
    else:
        jax.config.update("jax_default_matmul_precision", "highest")
        rows = measure()
    x = crossover(rows)
    os.makedirs(args.out, exist_ok=True)
    write_json(os.path.join(args.out, "kept_crossover.json"),
               {"command": command, "device": jax.devices()[0].device_kind, "jax": jax.__version__, "rows": rows,
                "crossover_mac_ratio": x})
    lines = ["# Kept path against the full layer", "",
             f"`{command}` on {jax.devices()[0].device_kind} (jax {jax.__version__}): "
             "one membership test of 32 candidates, microseconds per candidate, prefix included.", "",
             "| model | layer | kept fraction | kept | P x C | MAC ratio | full us | kept us | speed-up |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['layer']} | {r['fraction']} | {r['kept']} | {r['sizes'][0]} x "
                     f"{r['sizes'][1]} | {r['mac_ratio']:.1f} | {r['full_us']:.1f} | {r['kept_us']:.1f} | "
                     f"{r['speedup']:.2f} |")
    lines += ["", f"Crossover: the kept path won at every point with a MAC ratio >= {x:.1f}." if x else
              "No MAC ratio above which the kept path always won."]
    write_text(os.path.join(args.out, "kept_crossover.md"), "\n".join(lines) + "\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in dict.fromkeys(r["model"] for r in rows):
        sel = [r for r in rows if r["model"] == name]
        ax.scatter([r["mac_ratio"] for r in sel], [r["speedup"] for r in sel], label=name, s=18)
    ax.axhline(1.0, color="gray", lw=0.8)
    if x:
        ax.axvline(x, color="tab:red", lw=0.8, ls="--", label=f"crossover {x:.1f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("multiply-adds: full layer / kept path")
    ax.set_ylabel("speed-up of the kept path")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "kept_crossover.png"), dpi=110)
    print("crossover", x)


if __name__ == "__main__":
    main()
