"""Paper-scale PGGAN on an accelerator: precision, speed, batches and memory.

    python -m benchmarks.pggan_gpu precision --out FILE.json   # egbas per layer and precision
    python -m benchmarks.pggan_gpu batch --queries 8 --out FILE.json
    python -m benchmarks.pggan_gpu memory --queries 1 --out FILE.json   # one batch size per process

The model: a full-width 256x256 PGGAN with random weights (pytorch_GAN_zoo layout,
widths 512-512-512-512-256-128-64, Dz 512); ``--resolution`` / ``--max-width``
shrink it for a CPU dry run.  ``precision``: for each layer, one ``egbas`` call per
``ber_precision`` (float32, tf32, bfloat16) at equal BerOpt steps (``ber_tol=0``),
after compilation, and the converged default; the noise floor of the objective J
and of the kept set is two float32 runs with different batch shapes (``egbas`` and
row 0 of a 2-query ``egbas_batch``).  ``batch``: ``egbas_batch`` of ``--queries``
against as many single calls.  ``memory``: the device's peak bytes for one batch
size against ``memory_per_query`` (run each size in a fresh process, preallocation
off).  Every measurement is written to the JSON file as soon as it is made.
"""

from __future__ import annotations

import argparse
import json
import time

from .records import write_json


def _save(rec, path):
    write_json(path, rec)


def _jaccard(a, b):
    import numpy as np
    a, b = np.asarray(a) != 0, np.asarray(b) != 0
    union = np.sum(a | b)
    return float(np.sum(a & b) / union) if union else 1.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("precision", "batch", "memory"))
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--max-width", type=int, default=512)
    ap.add_argument("--layers", type=int, nargs="+", default=[2, 4, 6])
    ap.add_argument("--queries", type=int, default=8)
    ap.add_argument("--ber-steps", type=int, default=600, help="BerOpt steps of the equal-steps comparison")
    ap.add_argument("--ber-lambda", type=float, default=0.1)
    ap.add_argument("--precisions", nargs="+", default=["float32", "tf32", "bfloat16"])
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    import jax
    import numpy as np

    import gbas_jax as gb

    gen = gb.models.pggan(key=jax.random.key(0), latent_dim=512, resolution=args.resolution,
                          max_width=args.max_width, bias_scale=0.1)
    base = gb.EGBASConfig(ber_lambda=args.ber_lambda, step_size=0.2)
    dev = jax.devices()[0]
    rec = {"what": args.what, "device": str(dev), "device_kind": dev.device_kind, "backend": jax.default_backend(),
           "jax": jax.__version__, "resolution": args.resolution, "widths": list(gen.model.module.widths),
           "config": {k: v for k, v in base.__dict__.items()}, "runs": []}

    def timed(fn, repeats=2):
        times, out = [], None
        for _ in range(repeats + 1):
            t = time.perf_counter()
            out = jax.block_until_ready(fn())
            times.append(time.perf_counter() - t)
        return times[0], float(np.median(times[1:])), out

    z0s = jax.random.normal(jax.random.key(2), (max(2, args.queries), 512))
    if args.what == "precision":
        for layer in args.layers:
            fixed = base.replace(ber_steps=args.ber_steps, ber_tol=0.0)
            ref = None
            for p in args.precisions:
                cfg = fixed.replace(ber_precision=p)
                first, t, res = timed(lambda: gb.egbas(gen, z0s[0], layer, cfg, key=jax.random.key(1)))
                run = {"kind": "egbas", "layer": layer, "ber_precision": p, "ber_steps": int(res.ber_steps),
                       "first_s": first, "median_s": t, "objective": float(res.objective),
                       "num_kept": int(res.num_kept), "samples": int(res.tree.num_samples)}
                if p == "float32":
                    ref = res
                    # Noise floor: the same float32 run in another batch shape.
                    row = jax.block_until_ready(gb.egbas_batch(gen, z0s[:2], layer, cfg, key=jax.random.key(1)))
                    single = gb.egbas(gen, z0s[0], layer, cfg, key=jax.random.split(jax.random.key(1), 2)[0])
                    run["noise_objective_rel"] = abs(float(row.objective[0]) - float(single.objective)) / \
                        float(single.objective)
                    run["noise_jaccard"] = _jaccard(row.indicator[0], single.indicator)
                else:
                    run["objective_rel_vs_float32"] = abs(run["objective"] - float(ref.objective)) / \
                        float(ref.objective)
                    run["jaccard_vs_float32"] = _jaccard(res.indicator, ref.indicator)
                rec["runs"].append(run)
                print(json.dumps(run), flush=True)
                _save(rec, args.out)
            cfg = base      # the converged default (auto precision)
            first, t, res = timed(lambda: gb.egbas(gen, z0s[0], layer, cfg, key=jax.random.key(1)))
            run = {"kind": "egbas-default", "layer": layer, "ber_precision": "auto", "first_s": first, "median_s": t,
                   "ber_steps": int(res.ber_steps), "converged": bool(res.ber_converged),
                   "objective": float(res.objective), "num_kept": int(res.num_kept)}
            rec["runs"].append(run)
            print(json.dumps(run), flush=True)
            _save(rec, args.out)
    elif args.what == "batch":
        layer = args.layers[len(args.layers) // 2]
        z = z0s[:args.queries]
        first, t, res = timed(lambda: gb.egbas_batch(gen, z, layer, base, key=jax.random.key(0)), repeats=1)
        singles = []
        for i in range(args.queries):
            s0, s, _ = timed(lambda: gb.egbas(gen, z[i], layer, base, key=jax.random.key(i)), repeats=1)
            singles.append(s)
        stats = dev.memory_stats() or {}
        run = {"kind": "egbas_batch", "layer": layer, "queries": args.queries, "first_s": first, "batch_s": t,
               "queries_per_s": args.queries / t, "single_calls_s": float(np.sum(singles)),
               "single_queries_per_s": args.queries / float(np.sum(singles)),
               "ber_steps": np.asarray(res.ber_steps).tolist(), "iterations": np.asarray(res.tree.iterations).tolist(),
               "peak_bytes": stats.get("peak_bytes_in_use"),
               "memory_per_query": gb.memory_per_query(gen, layer, base)}
        rec["runs"].append(run)
        print(json.dumps(run), flush=True)
        _save(rec, args.out)
    else:
        layer = args.layers[len(args.layers) // 2]
        res = jax.block_until_ready(gb.egbas_batch(gen, z0s[:args.queries], layer, base, key=jax.random.key(0)))
        stats = dev.memory_stats() or {}
        run = {"kind": "memory", "layer": layer, "queries": args.queries, "peak_bytes": stats.get("peak_bytes_in_use"),
               "memory_per_query": gb.memory_per_query(gen, layer, base),
               "predicted_bytes": args.queries * gb.memory_per_query(gen, layer, base),
               "samples": np.asarray(res.tree.num_samples).tolist()}
        rec["runs"].append(run)
        print(json.dumps(run), flush=True)
        _save(rec, args.out)
    return rec


if __name__ == "__main__":
    main()
