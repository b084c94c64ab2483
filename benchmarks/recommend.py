"""Choosing a model's recommended E-GBAS settings by a sweep.

    python -m benchmarks recommend MODEL [--layers 2 4] [--seeds 0 1 2 3 4] [--grid NAME] [--space z|w]
    python -m benchmarks recommend MODEL --check-sample [--seeds ...] [--space z|w]

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
``benchmarks/results/recommend/MODEL[-SPACE]-GRID.json`` and ``.md`` (with
``--check-sample``: ``MODEL[-SPACE]-sample.json``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shlex
import statistics
import sys

import jax
import numpy as np

import gbas_jax as gb
from gbas_jax.apps.evaluation import evaluate_query, query_keys
from gbas_jax.io.checkpoint import open_model
from gbas_jax.models import views

from .common import record_header, write_json, write_text

PROG = "python -m benchmarks recommend"
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


def report(rec) -> str:
    """The markdown table of a sweep's record (:func:`run`)."""
    model, space, results = rec["model"], rec["space"], rec["results"]
    lines = [f"# Recommended settings for `{model}`" + (f" in {space.upper()}" if space else ""), "",
             f"`{rec['command']}` on {rec['device']}; every other "
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
              "Chosen: " + ((", ".join(f"{k} {v}" for k, v in rec["chosen"].items()) or "library defaults")
                            if rec["chosen"] is not None else "none (no setting filled every tree)"), ""]
    return "\n".join(lines)


def check_sample(model, seeds, space):
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
    return rows


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
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
    return ap


def command(args) -> str:
    """The command line that runs ``args``: the model, the mode's options away from
    their defaults (the grid always: it names the files), not ``--out``."""
    words = [args.model]
    if args.check_sample:
        words.append("--check-sample")
    else:
        words += ["--grid", args.grid]
        for flag, value, default in (("--layers", args.layers, [2]), ("--capacity", args.capacity, 500),
                                     ("--proposals", args.proposals, 32)):
            if value != default:
                words += [flag, *map(str, value if isinstance(value, list) else [value])]
    if args.seeds != [0, 1, 2, 3, 4]:
        words += ["--seeds", *map(str, args.seeds)]
    if args.space:
        words += ["--space", args.space]
    return f"{PROG} {shlex.join(words)}"


def _stem(args) -> str:
    return os.path.join(args.out, os.path.basename(os.path.normpath(args.model)) + (f"-{args.space}" if args.space else "")
                        + ("-sample" if args.check_sample else f"-{args.grid}"))


def run(args) -> dict:
    """The record: the common header, then with ``--check-sample`` the sample runs
    (``model``, ``space``, ``device``, ``rows``), else the sweep (``model``, ``space``,
    ``layers``, ``seeds``, ``grid``, ``device``, ``results``, ``chosen``)."""
    open_model(args.model)
    header = record_header(command(args))
    device = header["machine"]["device_kind"]
    if args.check_sample:
        rows = check_sample(args.model, args.seeds, args.space)
        return {**header, "model": args.model, "space": args.space, "device": device, "rows": rows}
    results = sweep(args.model, args.layers, args.seeds, GRIDS[args.grid],
                    {"capacity": args.capacity, "proposals": args.proposals}, space=args.space)
    best = choose(results)
    return {**header, "model": args.model, "space": args.space, "layers": args.layers, "seeds": args.seeds,
            "grid": GRIDS[args.grid], "device": device, "results": results,
            "chosen": best["setting"] if best else None}


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    rec = run(args)
    os.makedirs(args.out, exist_ok=True)
    stem = _stem(args)
    write_json(stem + ".json", rec)
    if args.check_sample:
        print("wrote", stem + ".json")
        return 0
    write_text(stem + ".md", report(rec))
    print("wrote", stem + ".json", "and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
