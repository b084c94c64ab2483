"""Channel units against the paper's element units: BerOpt's objective at equal
kept fraction, per layer.

    python -m benchmarks.channel_units --model dcgan-mnist [--queries 10] \\
        [--out benchmarks/results/channel_units/dcgan-mnist.json]

For every layer of the model and each query (``seeded_queries(gen, 0, Q)``),
BerOpt runs in element mode and in channel mode over a grid of ``lambda``; each
run records the kept fraction of units (``mean(1[theta > p])``, per unit in both
modes: channels are equal in size), the kept-unit error (MSE of the image decoded
from the kept units) and the units the indicator constrains (nonzero ``V``:
channel mode adds a kept channel's inactive units).  Everything else is the
model's recommended setting.  The summary compares the two modes at equal kept
fraction: the channel-mode error interpolated (linearly in log fraction, between
its grid points) at the element mode's kept fraction at the model's own
``lambda``.  GB-RRT and Table 1 in channel mode come from ``gbas-jax reproduce
--units channel`` (docs/beropt.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import shlex
import subprocess
import sys
import time

import numpy as np

from .records import write_json

LAMBDAS = {"element": (0.03, 0.1, 0.3, 1.0), "channel": (0.1, 0.3, 1.0, 3.0)}


def _interp_log(xs, ys, x):
    """``y`` at ``x`` on the piecewise-linear curve in ``log x``; None outside."""
    pts = sorted((a, b) for a, b in zip(xs, ys) if a > 0)
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x0 <= x <= x1:
            t = 0.0 if x1 == x0 else (np.log(x) - np.log(x0)) / (np.log(x1) - np.log(x0))
            return float(y0 + t * (y1 - y0))
    return None


def run(model: str, queries: int, command: str, progress: bool = True) -> dict:
    import jax
    from tqdm.auto import tqdm

    import gbas_jax as gb
    from gbas_jax.apps import settings
    from gbas_jax.io.checkpoint import load_model
    from gbas_jax.models import views

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
    summary = {}
    for layer in range(1, gen.num_layers + 1):
        s = {}
        for units, lams in LAMBDAS.items():
            s[units] = []
            for lam in lams:
                sel = [r for r in rows if r["layer"] == layer and r["units"] == units and r["lambda"] == lam]
                s[units].append({"lambda": lam, **{k: float(np.mean([r[k] for r in sel])) for k in
                                                   ("kept_fraction", "kept_error", "objective",
                                                    "constrained_fraction")}})
        own = [r for r in rows if r["layer"] == layer and r["units"] == "element" and r["lambda"] == base.ber_lambda]
        f = float(np.mean([r["kept_fraction"] for r in own])) if own else None
        e = float(np.mean([r["kept_error"] for r in own])) if own else None
        ch = s["channel"]
        s["equal_fraction"] = {"element_lambda": base.ber_lambda, "kept_fraction": f, "element_error": e,
                               "channel_error": None if f is None else _interp_log(
                                   [c["kept_fraction"] for c in ch], [c["kept_error"] for c in ch], f),
                               "channel_fractions": [c["kept_fraction"] for c in ch]}
        summary[str(layer)] = s
    import jax as _jax
    own_commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {"command": command, "model": model, "queries": queries, "lambdas": LAMBDAS,
            "settings": {k: v for k, v in dataclasses.asdict(base).items() if k != "units"},
            "device": _jax.devices()[0].device_kind, "seconds": round(time.perf_counter() - t0, 1),
            "versions": {"jax": _jax.__version__, "python": platform.python_version()}, "git_commit": own_commit,
            "summary": summary, "rows": rows}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="python -m benchmarks.channel_units", description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="dcgan-mnist")
    ap.add_argument("--queries", type=int, default=10)
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    out = args.out or f"benchmarks/results/channel_units/{args.model}.json"
    data = run(args.model, args.queries, "python -m benchmarks.channel_units " + shlex.join(argv),
               progress=not args.no_progress)
    write_json(out, data)
    for layer, s in data["summary"].items():
        q = s["equal_fraction"]
        ce = "n/a" if q["channel_error"] is None else f"{q['channel_error']:.4f}"
        print(f"layer {layer}: element kept {q['kept_fraction']:.3f}, error {q['element_error']:.4f}; "
              f"channel at that fraction {ce}")
    print(f"wrote {out} ({data['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
