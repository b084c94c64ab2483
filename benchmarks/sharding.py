"""Throughput of ``egbas_batch`` with the query axis sharded over N local devices
against one device.  On a CPU the devices are simulated
(``--xla_force_host_platform_device_count``) and share the same cores, so this
measures the overhead of the sharded program rather than a speed-up.

    python -m benchmarks.sharding [--devices 8] [--queries 64] [--model dcgan-mnist] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from .common import write_json

CHILD = """
import json, statistics, sys, time
import jax, numpy as np
import gbas_jax as gb
model, queries, layer, ndev = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
gen = gb.load_pretrained(model)
cfg = gb.EGBASConfig()
mesh = gb.query_mesh(jax.local_devices()[:ndev])
z = np.asarray(jax.random.normal(jax.random.key(0), (queries, gen.latent_dim)), np.float32)
t0 = time.perf_counter()
jax.block_until_ready(gb.egbas_batch(gen, z, layer, cfg, key=jax.random.key(0), mesh=mesh))
first = time.perf_counter() - t0
ts = []
for r in range(1, 3):
    t0 = time.perf_counter()
    jax.block_until_ready(gb.egbas_batch(gen, z, layer, cfg, key=jax.random.key(r), mesh=mesh))
    ts.append(time.perf_counter() - t0)
med = statistics.median(ts)
print(json.dumps({"devices": ndev, "device_kind": jax.devices()[0].device_kind, "queries": queries,
                  "first_call_s": first, "median_s": med, "queries_per_s": queries / med}))
"""


def run(model, queries, layer, ndev, visible):
    # Only the CPU backend reads this flag; on GPUs the real devices are used.
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={visible}")
    out = subprocess.run([sys.executable, "-c", CHILD, model, str(queries), str(layer), str(ndev)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=8)
    ap.add_argument("--queries", type=int, default=64)
    ap.add_argument("--layer", type=int, default=2)
    ap.add_argument("--model", default="dcgan-mnist")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    rows = [run(args.model, args.queries, args.layer, n, args.devices) for n in (1, args.devices)]
    rec = {"model": args.model, "layer": args.layer, "runs": rows,
           "speedup": rows[1]["queries_per_s"] / rows[0]["queries_per_s"]}
    print(json.dumps(rec, indent=1))
    if args.out:
        write_json(args.out, rec)


if __name__ == "__main__":
    main()
