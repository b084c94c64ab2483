"""Choosing a model's recommended E-GBAS settings by a sweep.

    python -m benchmarks.recommend MODEL [--layers 2 4] [--seeds 0 1 2 3 4] [--grid NAME] [--space z|w]

For every setting of the grid, at each layer and seed (the query and key of
``gbas-jax sample --seed S``): E-GBAS, and the epsilon-L2 baseline calibrated from
it.  Reported per setting: trees full (stop reason capacity), acceptance rate
(accepted / proposals), tree radius (largest distance of a sample from the query),
kept boundaries, BerOpt steps and convergence, and Table 1's image variation of
E-GBAS against epsilon-L2 (paired difference; negative = E-GBAS varies less).
The recommendation: among the settings whose trees are all full, the one whose
trees met the region's boundary (some candidate rejected: the paper's calibration
of the baselines needs rejections) in the most runs, then where E-GBAS varies
less than the baseline in the most runs, then the largest tree radius; the
library defaults win a tie.  ``--space`` sweeps a StyleGAN2 in one latent space (the
queries of ``gbas-jax sample --space``).  Writes
``benchmarks/results/recommend/MODEL[-SPACE]-GRID.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys

import jax
import numpy as np

import gbas_jax as gb
from gbas_jax.apps.evaluation import evaluate_query, query_keys
from gbas_jax.io.checkpoint import open_model
from gbas_jax.models import views

from .common import write_json, write_text

OUT = os.path.join(os.path.dirname(__file__), "results", "recommend")

GRIDS = {
    # LeakyReLU PGGAN at its small layer 2: every unit can matter; N(0, I) latent units
    "pggan": {"ber_lambda": (0.03, 0.1, 0.3), "step_size": (0.25, 0.5), "interval": (1.0, 2.0)},
    # the same around the library defaults, for every layer
    "pggan-layers": {"ber_lambda": (0.1, 0.3), "step_size": (0.25, 0.5, 1.0)},
    # 2-D latent: small steps and box
    "2d": {"ber_lambda": (0.3, 1.0), "step_size": (0.02, 0.05), "interval": (0.5, 1.0)},
    "2d-steps": {"ber_lambda": (1.0,), "step_size": (0.02, 0.03), "interval": (1.0,)},
    # the library defaults only (a re-check)
    "defaults": {},
}


def evaluate(gen, layer, seed, cfg):
    """One run of the sweep: the query and keys of ``gbas-jax sample --seed S``,
    evaluated as ``sample`` evaluates it (the image variation of E-GBAS and
    epsilon-L2 compared when the tree holds at least two samples)."""
    z0 = views.seeded_queries(gen, seed)
    ev = evaluate_query(gen, None, layer, z0, cfg, keys=query_keys(jax.random.key(seed)))
    res, zs = ev.result, ev.latents["E-GBAS"]
    n = len(zs)
    row = {"layer": layer, "seed": seed, "samples": n, "full": res.tree.stop() == gb.StopReason.CAPACITY,
           "acceptance": (n - 1) / max(1, int(res.tree.num_proposals)),
           "radius": float(np.max(np.linalg.norm(zs - z0, axis=1))), "kept": int(res.num_kept),
           "rejected": int(res.tree.num_rejected),
           "units": int(res.theta.shape[0]), "ber_steps": int(res.ber_steps),
           "ber_converged": bool(res.ber_converged), "seconds": ev.timings["egbas_s"]}
    if n >= 2:
        iv = [ev.metrics[m]["image_variation"] for m in ("E-GBAS", "eps-L2")]
        row.update(variation_egbas=iv[0], variation_l2=iv[1], variation_diff=iv[0] - iv[1],
                   eps_l2=ev.calibration.eps_l2)
    return row


def sweep(model, layers, seeds, grid, base_fields, space=None):
    gen = views.view(gb.load_pretrained(model), space=space)
    names = sorted(grid)
    settings = [dict(zip(names, values)) for values in itertools.product(*(grid[k] for k in names))] or [{}]
    out = []
    for s in settings:
        cfg = gb.EGBASConfig(**{**base_fields, **s})
        rows = [evaluate(gen, layer, seed, cfg) for layer in layers for seed in seeds]
        summary = {"setting": s, "trees_full": sum(r["full"] for r in rows), "runs": len(rows),
                   "acceptance": statistics.median(r["acceptance"] for r in rows),
                   "radius": statistics.median(r["radius"] for r in rows),
                   "kept_fraction": statistics.median(r["kept"] / r["units"] for r in rows),
                   "ber_converged": sum(r["ber_converged"] for r in rows),
                   "egbas_varies_less": sum(r.get("variation_diff", 1.0) < 0 for r in rows),
                   "calibrated": sum(r["rejected"] > 0 for r in rows),
                   "variation_diff": statistics.median(r.get("variation_diff", float("nan")) for r in rows),
                   "seconds": statistics.median(r["seconds"] for r in rows), "rows": rows}
        out.append(summary)
        print(json.dumps({k: v for k, v in summary.items() if k != "rows"}), flush=True)
    return out


def choose(results):
    ok = [r for r in results if r["trees_full"] == r["runs"]]
    default = gb.EGBASConfig()
    return max(ok, key=lambda r: (r.get("calibrated", 0), r["egbas_varies_less"], r["radius"],
                                  all(getattr(default, k) == v for k, v in r["setting"].items()))) if ok else None


def report(model, argv, results, best, space=None) -> str:
    lines = [f"# Recommended settings for `{model}`" + (f" in {space.upper()}" if space else ""), "",
             f"`python -m benchmarks.recommend {' '.join(argv)}` on {jax.devices()[0].device_kind}; every other "
             "field at the library default. Medians over layers and seeds.", "",
             "| setting | trees full | acceptance | tree radius | kept fraction | BerOpt converged | "
             "calibrated (some candidate rejected) | E-GBAS varies less than eps-L2 | variation E-GBAS - eps-L2 | "
             "s per call |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        s = ", ".join(f"{k} {v}" for k, v in r["setting"].items()) or "library defaults"
        lines.append(f"| {s} | {r['trees_full']}/{r['runs']} | {r['acceptance']:.3f} | {r['radius']:.2f} | "
                     f"{r['kept_fraction']:.3f} | {r['ber_converged']}/{r['runs']} | "
                     f"{r.get('calibrated', '-')}/{r['runs']} | "
                     f"{r['egbas_varies_less']}/{r['runs']} | {r['variation_diff']:+.4f} | {r['seconds']:.2f} |")
    lines += ["", "Rule: all trees full; then the most runs where the tree met the region's boundary (some "
                  "candidate rejected, so that the paper's calibration of the baselines applies); then E-GBAS "
                  "varying less than eps-L2 in the most runs; then the largest tree radius.", "",
              "Chosen: " + ((", ".join(f"{k} {v}" for k, v in best["setting"].items()) or "library defaults")
                            if best else "none (no setting filled every tree)"), ""]
    return "\n".join(lines)


def check_sample(model, seeds, space, out_dir):
    """``gbas-jax sample --model MODEL [--space S] --seed K`` for each seed, as a user
    runs it (the model's recommended settings): one row per seed from its record."""
    import tempfile

    from gbas_jax.cli import main as cli

    rows = []
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            argv = ["sample", "--model", model, "--seed", str(seed)] + (["--space", space] if space else [])
            rc = cli(argv + ["--no-progress", "--out", os.path.join(tmp, "s")])
            with open(os.path.join(tmp, "s", "record.json")) as f:
                r = json.load(f)
        c = r["counts"]
        rows.append({"seed": seed, "exit_code": rc, "layer": r["layer"], "samples": c["samples"],
                     "capacity": r["config"]["capacity"], "stop_reason": c["stop_reason"],
                     "acceptance": c["acceptance_rate"], "rejected": c["rejected"], "kept": c["kept_boundaries"],
                     "units": c["units"], "ber_steps": c["ber_steps"], "config_sources": r["config_sources"],
                     "command": "gbas-jax " + " ".join(argv)})
        print(json.dumps(rows[-1]), flush=True)
    stem = os.path.join(out_dir, os.path.basename(os.path.normpath(model)) + (f"-{space}" if space else "") + "-sample")
    write_json(stem + ".json", {"model": model, "space": space, "device": jax.devices()[0].device_kind, "rows": rows})
    print("wrote", stem + ".json")
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--layers", type=int, nargs="+", default=[2])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--grid", choices=sorted(GRIDS), default="pggan")
    ap.add_argument("--capacity", type=int, default=500)
    ap.add_argument("--proposals", type=int, default=32)
    ap.add_argument("--space", choices=("z", "w"), default=None, help="a StyleGAN2's latent space (default: its own)")
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--check-sample", action="store_true",
                    help="no sweep: run gbas-jax sample (the model's recommended settings) on each seed and "
                         "record whether each tree filled -> MODEL[-SPACE]-sample.json")
    args = ap.parse_args(argv)
    open_model(args.model)
    if args.check_sample:
        os.makedirs(args.out, exist_ok=True)
        check_sample(args.model, args.seeds, args.space, args.out)
        return
    results = sweep(args.model, args.layers, args.seeds, GRIDS[args.grid],
                    {"capacity": args.capacity, "proposals": args.proposals}, space=args.space)
    best = choose(results)
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, os.path.basename(os.path.normpath(args.model))
                        + (f"-{args.space}" if args.space else "") + f"-{args.grid}")
    write_json(stem + ".json", {"model": args.model, "space": args.space, "layers": args.layers, "seeds": args.seeds,
                                "grid": GRIDS[args.grid], "device": jax.devices()[0].device_kind,
                                "results": results, "chosen": best["setting"] if best else None})
    write_text(stem + ".md", report(args.model, argv if argv is not None else sys.argv[1:], results, best,
                                     args.space))
    print("wrote", stem + ".json", "and .md")


if __name__ == "__main__":
    main()
