"""How BerOpt converges: the reference optimum J*, the default's distance to it and
its speed, and a sweep of the optimiser's settings.

    python -m benchmarks beropt jstar      # J* per query and layer -> jstar.json
    python -m benchmarks beropt criteria   # the default against J* and the old 300 steps
    python -m benchmarks beropt sweep      # settings sweep: dcgan-mnist layers 1-4, random PGGAN

Definitions (the issue that set the targets): J = MSE of ``decode(h0 *
1[theta > p])`` against ``G(z0)`` plus ``lambda`` x the kept fraction (lambda 0.1,
p 0.5); queries ``jax.random.normal(jax.random.key(7), (3, Dz))``, BerOpt key
``jax.random.key(3)``.  J* per query = the lowest J of three 3,000-step runs
(``ber_tol=0``): the new default settings, the old defaults (Adam 0.1 with its usual
betas, concrete at temperature 0.1, 8 masks, theta from 0.9), and the old
optimiser at learning rate 0.3 and temperature 0.5.  Writes
``benchmarks/results/beropt/`` (JSON, a markdown table, plots).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

import jax
import numpy as np

import gbas_jax as gb

from .common import record_header, timed, write_json, write_text

PROG = "python -m benchmarks beropt"
OUT = os.path.join(os.path.dirname(__file__), "results", "beropt")
KEY = jax.random.key(3)
#: The old defaults: the plain algorithm as Algorithm 1 reads (and as the PyTorch references run it).
OLD = gb.EGBASConfig(ber_steps=300, ber_tol=0.0, ber_check=25, ber_window=25, ber_lr=0.1, ber_lr_decay=0.0,
                     ber_b1=0.9, ber_b2=0.999, ber_samples=8, temperature=0.1, ber_init=0.9)
LONG = 3000
REFERENCE_RUNS = {
    "default-3000": gb.EGBASConfig(ber_steps=LONG, ber_tol=0.0),
    "old-3000": OLD.replace(ber_steps=LONG),
    "old-lr0.3-t0.5-3000": OLD.replace(ber_steps=LONG, ber_lr=0.3, temperature=0.5),
}


def queries(dz, n=3):
    return np.asarray(jax.random.normal(jax.random.key(7), (n, dz)), np.float32)


def ber_run(gen, z0, layer, cfg):
    res = jax.block_until_ready(gb.ber_opt(gen, z0, layer, cfg, key=KEY, full_output=True))
    keep = np.asarray(res.theta) > cfg.threshold
    return {"objective": float(res.objective), "kept_error": float(res.kept_error), "kept": int(keep.sum()),
            "steps": int(res.steps), "converged": bool(res.converged)}, keep


def jaccard(a, b):
    union = np.sum(a | b)
    return float(np.sum(a & b) / union) if union else 1.0


def environment(machine):
    """The ``environment`` field every results file of this study has had, from
    :func:`benchmarks.common.machine`'s record."""
    return {"device": machine["device_kind"], "jax": machine["jax"], "machine": machine["processor"],
            "cpus": machine["cpus"]}


def jstar(layers=(1, 2, 3, 4)):
    gen = gb.load_pretrained("dcgan-mnist")
    rows = []
    for layer in layers:
        for q, z0 in enumerate(queries(gen.latent_dim)):
            runs = {name: ber_run(gen, z0, layer, cfg)[0] for name, cfg in REFERENCE_RUNS.items()}
            best = min(runs, key=lambda k: runs[k]["objective"])
            rows.append({"layer": layer, "query": q, "j_star": runs[best]["objective"], "j_star_run": best,
                         "j_star_kept_error": runs[best]["kept_error"], "runs": runs})
            print(layer, q, best, runs[best]["objective"], flush=True)
    return {"reference_runs": {k: _cfg(v) for k, v in REFERENCE_RUNS.items()}, "rows": rows}


def _cfg(cfg):
    return {k: v for k, v in cfg.__dict__.items() if k.startswith(("ber_", "temperature", "relaxation"))}


def criteria(ref, repeats=5):
    """The default against J* (objective, kept error, Jaccard of the kept sets) and
    its time against ``OLD`` (300 fixed steps), after compilation, medians of
    ``repeats`` interleaved calls per query."""
    gen = gb.load_pretrained("dcgan-mnist")
    default = gb.EGBASConfig()
    rows = []
    for r in ref["rows"]:
        if r["layer"] not in (2, 4):
            continue
        z0 = queries(gen.latent_dim)[r["query"]]
        out, keep = ber_run(gen, z0, r["layer"], default)
        _, keep_star = ber_run(gen, z0, r["layer"], REFERENCE_RUNS[r["j_star_run"]])
        calls = [(lambda c=c: gb.ber_opt(gen, z0, r["layer"], c, key=KEY)) for c in (default, OLD)]
        # call 0 compiles both; then one call of each in turn (interleaved), each timed
        _, times, _ = timed(lambda i: [jax.block_until_ready(f()) for f in calls] if i == 0
                            else calls[(i - 1) % 2](), 2 * repeats)
        med = {"default": statistics.median(times[0::2]), "old_300": statistics.median(times[1::2])}
        rows.append({"layer": r["layer"], "query": r["query"], **out, "j_star": r["j_star"],
                     "objective_over_j_star": out["objective"] / r["j_star"],
                     "kept_error_over_j_star_run": out["kept_error"] / r["j_star_kept_error"],
                     "jaccard_vs_j_star_run": jaccard(keep, keep_star), "seconds": med["default"],
                     "seconds_old_300": med["old_300"], "time_ratio": med["default"] / med["old_300"]})
        print(rows[-1], flush=True)
    return {"repeats": repeats, "rows": rows}


SWEEP = {
    "default": {},
    "lr 0.1": {"ber_lr": 0.1},
    "lr 1.0": {"ber_lr": 1.0},
    "temperature 0.3": {"temperature": 0.3},
    "temperature 1.0": {"temperature": 1.0},
    "S 4": {"ber_samples": 4},
    "init 0.9": {"ber_init": 0.9},
    "Adam betas (0.9, 0.999)": {"ber_b1": 0.9, "ber_b2": 0.999},
    "hold 200": {"ber_lr_hold": 200},
    "no decay": {"ber_lr_decay": 0.0},
    "straight-through": {"relaxation": "straight_through"},
    "old defaults, 300 steps": "old",
}


#: The settings also run on the random PGGAN (its BerOpt calls cost ~100x dcgan-mnist's).
PGGAN_SWEEP = ("default", "lr 0.1", "S 4", "temperature 0.3", "no decay", "old defaults, 300 steps")


def sweep(ref, pggan_queries=2, pggan_layers=(2, 4)):
    """Every SWEEP entry on dcgan-mnist layers 1-4 (3 queries), and the PGGAN_SWEEP
    entries on the random 64x64 PGGAN of the benchmarks (zoo layout, max width 128,
    Dz 128; ``pggan_layers``, ``pggan_queries`` queries)."""
    star = {(r["layer"], r["query"]): r["j_star"] for r in ref["rows"]}
    models = [("dcgan-mnist", gb.load_pretrained("dcgan-mnist"), (1, 2, 3, 4), 3),
              ("random PGGAN 64x64", gb.models.pggan(key=jax.random.key(0), latent_dim=128, resolution=64,
                                                     max_width=128, layout="zoo"), tuple(pggan_layers), pggan_queries)]
    rows = []
    for model_name, gen, layers, nq in models:
        for name, change in SWEEP.items():
            if model_name != "dcgan-mnist" and name not in PGGAN_SWEEP:
                continue
            cfg = OLD if change == "old" else gb.EGBASConfig(**change)
            for layer in layers:
                for q, z0 in enumerate(queries(gen.latent_dim, nq)):
                    # call 0 compiles; call 1 (the recorded run) is timed
                    _, (seconds,), (out, _) = timed(
                        lambda i: gb.ber_opt(gen, z0, layer, cfg, key=KEY) if i == 0 else ber_run(gen, z0, layer, cfg),
                        1)
                    out.update(model=model_name, setting=name, layer=layer, query=q, seconds=seconds,
                               units=gen.layer_size(layer))
                    if model_name == "dcgan-mnist":
                        out["objective_over_j_star"] = out["objective"] / star[(layer, q)]
                    rows.append(out)
                    print(model_name, name, layer, q, round(out["objective"], 5), out["steps"],
                          round(out["seconds"], 3), flush=True)
    return {"settings": {k: v if v != "old" else _cfg(OLD) for k, v in SWEEP.items()}, "rows": rows}


def sweep_report(res) -> str:
    lines = ["# BerOpt settings sweep", "", f"`{res['command']}` on {res['environment']['device']} "
             f"(jax {res['environment']['jax']}). Each setting changes the library default in one field; "
             "J / J* is against the 3,000-step optimum of `jstar.json` (dcgan-mnist only); time is one call "
             "after compilation. Medians over queries (and layers where pooled).", ""]
    for model in dict.fromkeys(r["model"] for r in res["rows"]):
        rows = [r for r in res["rows"] if r["model"] == model]
        layers = sorted({r["layer"] for r in rows})
        lines += [f"## {model}", "", "| setting | " + " | ".join(f"layer {l}: J{' / J*' if model == 'dcgan-mnist' else ''}, "
                                                              f"kept, steps, s" for l in layers) + " |",
                  "|---|" + "---|" * len(layers)]
        for name in dict.fromkeys(r["setting"] for r in rows):
            cells = []
            for layer in layers:
                sel = [r for r in rows if r["setting"] == name and r["layer"] == layer]
                key = "objective_over_j_star" if model == "dcgan-mnist" else "objective"
                cells.append(f"{statistics.median(r[key] for r in sel):.3f}, "
                             f"{statistics.median(r['kept'] for r in sel):.0f}/{sel[0]['units']}, "
                             f"{statistics.median(r['steps'] for r in sel):.0f}, "
                             f"{statistics.median(r['seconds'] for r in sel):.2f}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def sweep_plot(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in res["rows"] if r["model"] == "dcgan-mnist"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in dict.fromkeys(r["setting"] for r in rows):
        sel = [r for r in rows if r["setting"] == name]
        x = statistics.median(r["seconds"] for r in sel)
        y = statistics.median(r["objective_over_j_star"] for r in sel)
        ax.scatter([x], [y], s=30, c="tab:red" if name == "default" else "tab:blue")
        ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.axhline(1.03, color="gray", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("seconds per BerOpt call (median, dcgan-mnist layers 1-4)")
    ax.set_ylabel("J / J* (median)")
    ax.set_title("BerOpt settings: speed against distance to the 3,000-step optimum")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("jstar", "criteria", "sweep"))
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--pggan-queries", type=int, default=2, help="sweep: queries on the random PGGAN (default 2)")
    ap.add_argument("--pggan-layers", type=int, nargs="+", default=[2, 4],
                    help="sweep: layers of the random PGGAN (default 2 4)")
    return ap


def command(args) -> str:
    if args.what != "sweep":
        return f"{PROG} {args.what}"
    return f"{PROG} sweep --pggan-queries {args.pggan_queries} --pggan-layers {' '.join(map(str, args.pggan_layers))}"


def run(args) -> dict:
    """The record of ``args.what``: the common header, ``environment``, then the
    study's fields (``criteria`` and ``sweep`` read ``jstar.json`` in ``args.out``)."""
    header = record_header(command(args))
    rec = {**header, "environment": environment(header["machine"])}
    if args.what == "jstar":
        return {**rec, **jstar()}
    with open(os.path.join(args.out, "jstar.json")) as f:
        ref = json.load(f)
    if args.what == "criteria":
        return {**rec, **criteria(ref)}
    return {**rec, **sweep(ref, args.pggan_queries, args.pggan_layers)}


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    res = run(args)
    _dump(res, os.path.join(args.out, f"{args.what}.json"))
    if args.what == "sweep":
        write_text(os.path.join(args.out, "sweep.md"), sweep_report(res))
        sweep_plot(res, os.path.join(args.out, "sweep.png"))
    return 0


def _dump(obj, path):
    write_json(path, obj)
    print("wrote", path)


if __name__ == "__main__":
    sys.exit(main())
