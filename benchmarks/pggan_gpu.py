"""E-GBAS on a full-width 256x256 PGGAN (random weights, pytorch_GAN_zoo layout,
widths 512-512-512-512-256-128-64, Dz 512): one ``egbas`` call per layer and an
``egbas_batch`` over several queries, after compilation.  Meant for a GPU
(``benchmarks/gpu.sh``); every measurement is appended to the JSON file as soon
as it is made, so a run cut short still reports what it finished.

    python -m benchmarks.pggan_gpu [--layers 2 4 6] [--queries 2] [--precision highest] --out FILE.json

On the H100 one call took ~10 s after a 19-27 s first call, so the defaults (three
layers, two calls each, then an egbas_batch of 2 queries) need about 3 minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--layers", type=int, nargs="+", default=[2, 4, 6])
    ap.add_argument("--queries", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="egbas calls per layer (the first compiles)")
    ap.add_argument("--ber-steps", type=int, default=300)
    ap.add_argument("--ber-lambda", type=float, default=10.0,
                    help="random PGGAN images vary strongly: lambda 2 keeps 15%% of layer 2 (32x32, CPU)")
    ap.add_argument("--precision", default="highest", choices=("default", "high", "highest"))
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    import jax
    jax.config.update("jax_default_matmul_precision", args.precision)
    import numpy as np

    import gbas_jax as gb

    gen = gb.models.pggan(key=jax.random.key(0), latent_dim=512, resolution=args.resolution, bias_scale=0.1)
    cfg = gb.EGBASConfig(ber_steps=args.ber_steps, ber_lambda=args.ber_lambda, step_size=0.2)
    rec = {"device": str(jax.devices()[0]), "device_kind": jax.devices()[0].device_kind, "jax": jax.__version__,
           "precision": args.precision, "resolution": args.resolution,
           "widths": list(gen.model.module.widths), "config": {k: v for k, v in dataclasses.asdict(cfg).items()},
           "runs": []}

    def save():
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(rec, f, indent=1, default=float)
        os.replace(tmp, args.out)

    z = jax.random.normal(jax.random.key(1), (1, 512))
    generate = jax.jit(lambda g, z: g.generate(z))
    zb = jax.random.normal(jax.random.key(9), (64, 512))
    t0 = time.perf_counter()
    jax.block_until_ready(generate(gen, zb))
    gen_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(generate(gen, zb))
    rec["generate_64_s"], rec["generate_64_first_s"] = time.perf_counter() - t0, gen_first
    save()
    z0 = z[0]
    for layer in args.layers:
        times = []
        for r in range(max(2, args.repeats)):
            t0 = time.perf_counter()
            res = jax.block_until_ready(gb.egbas(gen, z0, layer, cfg, key=jax.random.key(r)))
            times.append(time.perf_counter() - t0)
        run = {"kind": "egbas", "layer": layer, "units": gen.layer_size(layer), "first_s": times[0],
               "median_s": float(np.median(times[1:])), "num_kept": int(res.num_kept),
               "ber_steps": int(res.ber_steps), "samples": int(res.tree.num_samples),
               "iterations": int(res.tree.iterations), "rejected": int(res.tree.num_rejected)}
        rec["runs"].append(run)
        print(json.dumps(run), flush=True)
        save()
    layer = args.layers[len(args.layers) // 2]
    z0s = jax.random.normal(jax.random.key(2), (args.queries, 512))
    times = []
    for r in range(2):
        t0 = time.perf_counter()
        res = jax.block_until_ready(gb.egbas_batch(gen, z0s, layer, cfg, key=jax.random.key(r)))
        times.append(time.perf_counter() - t0)
    stats = jax.devices()[0].memory_stats() or {}
    run = {"kind": "egbas_batch", "layer": layer, "queries": args.queries, "first_s": times[0], "second_s": times[1],
           "queries_per_s": args.queries / times[1], "num_kept": np.asarray(res.num_kept).tolist(),
           "samples": np.asarray(res.tree.num_samples).tolist(), "peak_bytes": stats.get("peak_bytes_in_use")}
    rec["runs"].append(run)
    print(json.dumps(run), flush=True)
    save()
    return rec


if __name__ == "__main__":
    main()
