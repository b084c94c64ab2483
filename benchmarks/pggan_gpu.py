"""Paper-scale PGGAN on an accelerator: precision, speed, batches and memory.

    python -m benchmarks pggan-gpu precision --out FILE.json   # egbas per layer and precision
    python -m benchmarks pggan-gpu precision --warm-only --layers 2 --precisions tf32 --out W.json
    python -m benchmarks pggan-gpu batch --queries 8 --out FILE.json
    python -m benchmarks pggan-gpu memory --queries 32 --out FILE.json   # one batch size per process
    python -m benchmarks pggan-gpu summary FOLDER   # the headline figures of a gpu.sh folder

(``python -m benchmarks.pggan_gpu ...`` still works: ``benchmarks/gpu.sh`` calls it so.)

The model: a full-width 256x256 PGGAN with random weights (pytorch_GAN_zoo layout,
widths 512-512-512-512-256-128-64, Dz 512); ``--resolution`` / ``--max-width``
shrink it for a CPU dry run.

``precision``: for each layer, one ``egbas`` call per ``ber_precision`` at equal
BerOpt steps (``ber_steps=--ber-steps``, ``ber_tol=0``), and the converged BerOpt
(library defaults) at each of ``--default-precisions``; every call timed after
compilation.  The noise floor of the objective J and of the kept set is two
float32 runs with different batch shapes (``egbas`` and row 0 of a 2-query
``egbas_batch`` with the same key).  ``--warm-only`` runs each program once and
times nothing: several such processes in parallel fill JAX's persistent
compilation cache (``benchmarks/gpu.sh``), so the timing process compiles nothing.

``batch``: ``egbas_batch`` of ``--queries`` (library defaults) against as many
single calls, and the device's peak bytes right after the batch.  ``memory``: the
peak bytes of one batch size against ``generator_bytes + memory_per_query x
queries`` (run each size in a fresh process with preallocation off, after another
process has filled the compilation and autotuning caches: the autotuner's scratch
would otherwise count).  Every measurement is written to the
JSON file as soon as it is made; the file starts with the fields of
:func:`benchmarks.common.record_header` (command, commit, machine).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from .common import machine, record_header, timed, write_json


def _jaccard(a, b):
    import numpy as np
    a, b = np.asarray(a) != 0, np.asarray(b) != 0
    union = np.sum(a | b)
    return float(np.sum(a & b) / union) if union else 1.0


def _versions(info=None):
    """The record's device and version fields (kept at the top level, where the
    summary and ``benchmarks/pages.py`` read them), from ``info`` (default
    :func:`benchmarks.common.machine`), plus flax's, optax's and the matmul precision."""
    import flax
    import jax
    import optax
    info = machine() if info is None else info
    return {"device": info["devices"][0], "device_kind": info["device_kind"], "backend": info["backend"],
            "jax": info["jax"], "jaxlib": info.get("jaxlib"), "flax": flax.__version__,
            "optax": optax.__version__, "default_matmul_precision": jax.config.jax_default_matmul_precision}


def _peak_bytes():
    import jax
    stats = jax.devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use")


def _timed(fn, repeats):
    """:func:`benchmarks.common.timed` of a function of no arguments: ``(first call s,
    [seconds of each of the repeats calls after it], last output)``."""
    return timed(lambda r: fn(), repeats)


def _record(rec, run, save):
    rec["runs"].append(run)
    print(json.dumps(run), flush=True)
    save()


def _batch_fields(gen, layer, cfg, queries, res, peak):
    """A batch's sizes and its peak bytes against ``generator_bytes + B x memory_per_query``."""
    import numpy as np

    import gbas_jax as gb
    mpq = gb.memory_per_query(gen, layer, cfg)
    return {"layer": layer, "queries": queries, "peak_bytes": peak, "memory_per_query": mpq,
            "predicted_bytes": gb.generator_bytes(gen) + queries * mpq,
            "ber_steps": np.asarray(res.ber_steps).tolist(), "iterations": np.asarray(res.tree.iterations).tolist(),
            "samples": np.asarray(res.tree.num_samples).tolist()}


def _row(kind, layer, prec, times, res):
    import numpy as np
    return {"kind": kind, "layer": layer, "ber_precision": prec, "times_s": times,
            "median_s": float(np.median(times)) if times else None, "ber_steps": int(res.ber_steps),
            "converged": bool(res.ber_converged), "objective": float(res.objective),
            "num_kept": int(res.num_kept), "samples": int(res.tree.num_samples),
            "iterations": int(res.tree.iterations)}


def precision_runs(gen, z0, layer, args, rec, save, *, key):
    """The equal-steps comparison and the converged default at one layer."""
    import jax

    import gbas_jax as gb
    base = gb.EGBASConfig(ber_lambda=args.ber_lambda, step_size=args.step_size)
    fixed = base.replace(ber_steps=args.ber_steps, ber_tol=0.0)
    warm = args.warm_only
    ref = None
    for p in args.precisions:
        cfg = fixed.replace(ber_precision=p)
        call = lambda: gb.egbas(gen, z0, layer, cfg, key=key)             # noqa: E731
        first, times, res = _timed(call, 0 if warm else (1 if p == "float32" else args.repeats))
        run = _row("egbas", layer, p, times, res)
        run["first_s"] = first
        if p == "float32":
            ref = res
            # Noise floor: the same float32 run in another batch shape (row 0 of a
            # 2-query batch gets the first of key's two splits).
            z2 = jax.numpy.stack([z0, -z0])
            row = jax.block_until_ready(gb.egbas_batch(gen, z2, layer, cfg, key=key))
            single = gb.egbas(gen, z0, layer, cfg, key=jax.random.split(key, 2)[0])
            run["noise_objective_rel"] = abs(float(row.objective[0]) - float(single.objective)) / \
                float(single.objective)
            run["noise_jaccard"] = _jaccard(row.indicator[0], single.indicator)
            run["noise_num_kept"] = [int(row.num_kept[0]), int(single.num_kept)]
        elif ref is not None:
            run["objective_rel_vs_float32"] = abs(run["objective"] - float(ref.objective)) / float(ref.objective)
            run["jaccard_vs_float32"] = _jaccard(res.indicator, ref.indicator)
        _record(rec, run, save)
    for p in args.default_precisions:
        cfg = base.replace(ber_precision=p)
        first, times, res = _timed(lambda: gb.egbas(gen, z0, layer, cfg, key=key), 0 if warm else args.repeats)
        run = _row("egbas-converged", layer, p, times, res)
        run["first_s"] = first
        _record(rec, run, save)


def _load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def summarise(folder) -> str:
    """The headline figures of a ``benchmarks/gpu.sh`` results folder, as text."""
    import glob
    lines = []
    prec = _load(os.path.join(folder, "precision.json"))
    if prec:
        lines.append(f"device {prec['device_kind']}, jax {prec['jax']}")
        runs = prec["runs"]
        for layer in sorted({r["layer"] for r in runs}):
            rs = {(r["kind"], r["ber_precision"]): r for r in runs if r["layer"] == layer}
            f32 = rs.get(("egbas", "float32"))
            for (kind, p), r in rs.items():
                extra = ""
                if kind == "egbas" and p != "float32" and f32 and r["median_s"]:
                    extra = (f" speed-up {f32['median_s'] / r['median_s']:.2f}x, J rel {r['objective_rel_vs_float32']:.4f}"
                             f", jaccard {r['jaccard_vs_float32']:.3f}")
                if kind == "egbas" and p == "float32":
                    extra = f" noise: J rel {r['noise_objective_rel']:.4f}, jaccard {r['noise_jaccard']:.3f}"
                lines.append(f"L{layer} {kind:16s} {p:9s} {r['median_s']:.3f} s, {r['ber_steps']} steps, "
                             f"J {r['objective']:.5f}, kept {r['num_kept']}{extra}")
    batch = _load(os.path.join(folder, "batch.json"))
    if batch and batch["runs"]:
        r = batch["runs"][0]
        lines.append(f"egbas_batch {r['queries']} q: {r['batch_s']:.2f} s ({r['queries_per_s']:.2f} q/s) vs singles "
                     f"{r['single_calls_s']:.2f} s ({r['single_queries_per_s']:.2f} q/s); peak {r['peak_bytes']}, "
                     f"predicted {r['predicted_bytes']}")
    for path in sorted(glob.glob(os.path.join(folder, "memory_*.json"))):
        m = _load(path)
        if m and m["runs"]:
            r = m["runs"][0]
            ratio = r["peak_bytes"] / r["predicted_bytes"] if r["peak_bytes"] else float("nan")
            lines.append(f"memory {r['queries']} q: peak {r['peak_bytes']} / predicted {r['predicted_bytes']} = "
                         f"{ratio:.2f}, compiled {r.get('compiled_bytes')}, {r['first_s']:.1f} s with compilation")
    bench = _load(os.path.join(folder, "bench", "results.json"))
    if bench:
        for r in bench["records"]:
            if r["kind"] == "batch":
                lines.append(f"bench e2e {r['model']} {r['impl']}: {r.get('queries')} q, {r.get('queries_per_s')} q/s")
            elif r["kind"] == "rrt":
                lines.append(f"bench rrt {r['model']} L{r['layer']} {r['impl']}: {r.get('candidates_per_s')} cand/s")
    return "\n".join(lines) if lines else "no results"


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks pggan-gpu", description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("precision", "batch", "memory", "summary"))
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--max-width", type=int, default=512)
    ap.add_argument("--layers", type=int, nargs="+", default=[2, 4, 6])
    ap.add_argument("--queries", type=int, default=8)
    ap.add_argument("--ber-steps", type=int, default=600, help="BerOpt steps of the equal-steps comparison")
    ap.add_argument("--ber-lambda", type=float, default=0.1)
    ap.add_argument("--step-size", type=float, default=0.2)
    ap.add_argument("--precisions", nargs="*", default=["float32", "tf32", "bfloat16"],
                    help="equal-steps comparison (float32 first: the others are compared with it)")
    ap.add_argument("--default-precisions", nargs="*", default=["tf32", "bfloat16"],
                    help="precisions of the converged (library-default) BerOpt runs")
    ap.add_argument("--repeats", type=int, default=2, help="timed calls per program (float32: 1)")
    ap.add_argument("--warm-only", action="store_true", help="run every program once, time nothing")
    ap.add_argument("--compiled", action="store_true",
                    help="memory: also record compiled_batch_bytes (XLA's buffer assignment) after the peak")
    ap.add_argument("--out", required=True)
    return ap


def run(args) -> dict:
    """The record of one stage (``args.what``), written to ``args.out`` after every
    measurement (a time-boxed run keeps what it measured)."""
    import jax
    import numpy as np

    import gbas_jax as gb

    header = record_header()
    t0 = time.perf_counter()
    gen = gb.models.pggan(key=jax.random.key(0), latent_dim=512, resolution=args.resolution,
                          max_width=args.max_width, bias_scale=0.1)
    # the output's file name only: the folder is the machine's
    settings = dict(vars(args), out=os.path.basename(args.out))
    rec = {**header, "what": args.what, **_versions(header["machine"]), "resolution": args.resolution,
           "widths": list(gen.model.module.widths), "param_bytes": gb.generator_bytes(gen), "argv": settings,
           "runs": []}

    def save():
        rec["elapsed_s"] = time.perf_counter() - t0
        write_json(args.out, rec)

    z0s = jax.random.normal(jax.random.key(2), (max(2, args.queries), 512))
    base = gb.EGBASConfig(ber_lambda=args.ber_lambda, step_size=args.step_size)
    rec["config"] = dict(base.__dict__)
    layer = args.layers[len(args.layers) // 2]
    if args.what == "precision":
        for lay in args.layers:
            precision_runs(gen, z0s[0], lay, args, rec, save, key=jax.random.key(1))
    elif args.what == "batch":
        z = z0s[:args.queries]
        batch = lambda: gb.egbas_batch(gen, z, layer, base, key=jax.random.key(0))     # noqa: E731
        first, _, res = _timed(batch, 0)
        peak = _peak_bytes()            # before anything else runs: the batch's own peak
        _, times, res = _timed(batch, 1)
        # the first call compiles; then query i with key i, each timed
        _, singles, _ = timed(lambda r: gb.egbas(gen, z[max(r - 1, 0)], layer, base,
                                                 key=jax.random.key(max(r - 1, 0))), args.queries)
        run = {"kind": "egbas_batch", "first_s": first, "batch_s": times[0], "queries_per_s": args.queries / times[0],
               "single_s": singles, "single_calls_s": float(np.sum(singles)),
               "single_queries_per_s": args.queries / float(np.sum(singles)),
               **_batch_fields(gen, layer, base, args.queries, res, peak)}
        _record(rec, run, save)
    else:
        first, _, res = _timed(lambda: gb.egbas_batch(gen, z0s[:args.queries], layer, base, key=jax.random.key(0)), 0)
        run = {"kind": "memory", "first_s": first,
               **_batch_fields(gen, layer, base, args.queries, res, _peak_bytes())}
        if args.compiled:
            # XLA's buffer assignment of the batch's two programs, after the peak was read
            # (GB-RRT's at the full layer may compile here)
            run["compiled_bytes"] = gb.compiled_batch_bytes(gen, layer, base, args.queries)
        _record(rec, run, save)
    return rec


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["summary"]:
        print(summarise(argv[1]))
        return 0
    args = parser().parse_args(argv)
    rec = run(args)          # each measurement printed and written as it was made
    write_json(args.out, rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
