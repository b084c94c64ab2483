"""Channel units against the paper's element units: BerOpt's objective at equal
kept fraction, per layer.

    python -m benchmarks channel-units --model dcgan-mnist [--queries 10] \\
        [--out benchmarks/results/channel_units/dcgan-mnist.json]
    python -m benchmarks channel-units --summarise FILE   # recompute a results file's summary

For every layer of the model and each query (``seeded_queries(gen, 0, Q)``),
BerOpt runs in element mode and in channel mode over a grid of ``lambda``; each
run records the kept fraction of units (``mean(1[theta > p])``, per unit in both
modes: channels are equal in size), the kept-unit error (MSE of the image decoded
from the kept units) and the units the indicator constrains (nonzero ``V``:
channel mode adds a kept channel's inactive units).  Everything else is the
model's recommended setting.  The summary compares the two modes at equal kept
fraction (:func:`summarise`): at each channel-mode point, the element-mode error
interpolated (linearly in log fraction) at the same kept fraction.  GB-RRT and Table 1 in channel mode come from ``gbas-jax reproduce
--units channel`` (docs/beropt.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time

import numpy as np

from .common import record_header, write_json

PROG = "python -m benchmarks channel-units"
LAMBDAS = {"element": (0.01, 0.03, 0.1, 0.3, 1.0), "channel": (0.1, 0.3, 1.0, 3.0)}


def _interp_log(xs, ys, x):
    """``y`` at ``x`` on the piecewise-linear curve in ``log x``; None outside."""
    pts = sorted((a, b) for a, b in zip(xs, ys) if a > 0)
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x0 <= x <= x1:
            t = 0.0 if x1 == x0 else (np.log(x) - np.log(x0)) / (np.log(x1) - np.log(x0))
            return float(y0 + t * (y1 - y0))
    return None


def summarise(rows, element_lambda: float) -> dict:
    """Per layer: the means per (mode, lambda), and the modes matched at equal kept
    fraction: at each channel-mode point whose kept fraction lies within the
    element-mode curve, the element-mode error interpolated there (in log fraction),
    and at the element mode's own ``lambda`` the channel-mode error if its curve
    brackets that fraction."""
    out = {}
    for layer in sorted({r["layer"] for r in rows}):
        s = {}
        for units in LAMBDAS:
            s[units] = []
            for lam in sorted({r["lambda"] for r in rows if r["layer"] == layer and r["units"] == units}):
                sel = [r for r in rows if r["layer"] == layer and r["units"] == units and r["lambda"] == lam]
                s[units].append({"lambda": lam, **{k: float(np.mean([r[k] for r in sel])) for k in
                                                   ("kept_fraction", "kept_error", "objective",
                                                    "constrained_fraction")},
                                 "converged": sum(r["converged"] for r in sel), "queries": len(sel)})
        el, ch = s["element"], s["channel"]
        fe, ee = [c["kept_fraction"] for c in el], [c["kept_error"] for c in el]
        s["matched"] = []
        for c in ch:
            e = _interp_log(fe, ee, c["kept_fraction"]) if c["kept_fraction"] > 0 else None
            if e is not None:
                s["matched"].append({"channel_lambda": c["lambda"], "kept_fraction": c["kept_fraction"],
                                     "channel_error": c["kept_error"], "element_error": e,
                                     "ratio": c["kept_error"] / e if e > 0 else None})
        own = next((c for c in el if c["lambda"] == element_lambda), None)
        if own is not None:
            s["at_element_lambda"] = {"lambda": element_lambda, "kept_fraction": own["kept_fraction"],
                                      "element_error": own["kept_error"],
                                      "channel_error": _interp_log([c["kept_fraction"] for c in ch],
                                                                   [c["kept_error"] for c in ch],
                                                                   own["kept_fraction"])}
        out[str(layer)] = s
    return out


def measure(model: str, queries: int, command: str, progress: bool = True) -> dict:
    """The record: the common header, then the BerOpt runs of every layer, mode,
    ``lambda`` and query (``rows``) and their :func:`summarise`; ``device``,
    ``versions`` and ``git_commit`` as the results files have always had them."""
    import jax
    from tqdm.auto import tqdm

    import gbas_jax as gb
    from gbas_jax.apps import settings
    from gbas_jax.io.checkpoint import load_model
    from gbas_jax.models import views

    header = record_header(command)
    m = load_model(model, discriminator=False)
    base = settings.for_job(m.folder, None).config
    gen = m.generator
    z0s = views.seeded_queries(gen, 0, queries)
    rows = []
    total = gen.num_layers * queries * sum(len(v) for v in LAMBDAS.values())
    t0 = time.perf_counter()
    with tqdm(total=total, desc=f"{model} BerOpt", disable=not progress) as bar:
        for layer in range(1, gen.num_layers + 1):
            D = gen.layer_size(layer)
            for units, lams in LAMBDAS.items():
                for lam in lams:
                    cfg = dataclasses.replace(base, units=units, ber_lambda=lam)
                    for q in range(queries):
                        r = gb.ber_opt(gen, z0s[q], layer, cfg, key=jax.random.key(q), full_output=True)
                        theta = np.asarray(r.theta)
                        V = np.asarray(gb.halfspace_indicator(gen, z0s[q], layer, r.theta, cfg.threshold))
                        rows.append({"layer": layer, "units": units, "lambda": lam, "query": q,
                                     "kept_fraction": float(np.mean(theta > cfg.threshold)),
                                     "kept_error": float(r.kept_error), "objective": float(r.objective),
                                     "constrained_fraction": float(np.count_nonzero(V) / D),
                                     "steps": int(r.steps), "converged": bool(r.converged)})
                        bar.update(1)
    summary = summarise(rows, base.ber_lambda)
    mach = header["machine"]
    return {**header, "model": model, "queries": queries, "lambdas": LAMBDAS,
            "settings": {k: v for k, v in dataclasses.asdict(base).items() if k != "units"},
            "device": mach["device_kind"], "seconds": round(time.perf_counter() - t0, 1),
            "versions": {"jax": mach["jax"], "python": mach["python"]}, "summary": summary, "rows": rows}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="dcgan-mnist")
    ap.add_argument("--queries", type=int, default=10)
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--summarise", metavar="FILE", help="recompute the summary of a results file from its rows")
    return ap


def command(args) -> str:
    """The command line of a measuring run (what its record's ``command`` says)."""
    words = ["--model", args.model] + (["--queries", str(args.queries)] if args.queries != 10 else []) \
        + (["--out", args.out] if args.out else []) + (["--no-progress"] if args.no_progress else [])
    return f"{PROG} {shlex.join(words)}"


def run(args) -> dict:
    """The record: measured (:func:`measure`), or with ``--summarise FILE`` that
    file's record with its summary recomputed from its rows."""
    if args.summarise:
        with open(args.summarise) as f:
            data = json.load(f)
        data["summary"] = summarise(data["rows"], data["settings"]["ber_lambda"])
        return data
    return measure(args.model, args.queries, command(args), progress=not args.no_progress)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    data = run(args)
    if args.summarise:
        write_json(args.summarise, data)
        print(f"rewrote {args.summarise}")
        return 0
    out = args.out or f"benchmarks/results/channel_units/{args.model}.json"
    write_json(out, data)
    for layer, s in data["summary"].items():
        for m in s["matched"]:
            print(f"layer {layer}: kept {m['kept_fraction']:.3f}: channel error {m['channel_error']:.4f}, "
                  f"element {m['element_error']:.4f}")
    print(f"wrote {out} ({data['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
