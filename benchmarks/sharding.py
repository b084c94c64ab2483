"""Throughput of ``egbas_batch`` with the query axis sharded over N local devices
against one device.  On a CPU the devices are simulated
(``--xla_force_host_platform_device_count``) and share the same cores, so this
measures the overhead of the sharded program rather than a speed-up.

    python -m benchmarks sharding [--devices 8] [--queries 64] [--model dcgan-mnist] [--out FILE.json]

(``python -m benchmarks.sharding ...`` still works.)  Each device count runs in its
own process (the simulated device count is fixed at start-up), timed there with
:func:`benchmarks.common.median_time`; the record starts with the fields of
:func:`benchmarks.common.record_header`, read after the child processes have run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from .common import record_header, write_json

#: The checkout's root, put on the children's ``PYTHONPATH`` (they import benchmarks.common).
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = """
import json, sys
import jax, numpy as np
import gbas_jax as gb
from benchmarks.common import median_time
model, queries, layer, ndev = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
gen = gb.load_pretrained(model)
cfg = gb.EGBASConfig()
mesh = gb.query_mesh(jax.local_devices()[:ndev])
z = np.asarray(jax.random.normal(jax.random.key(0), (queries, gen.latent_dim)), np.float32)
first, med, _ = median_time(lambda r: gb.egbas_batch(gen, z, layer, cfg, key=jax.random.key(r), mesh=mesh), 2)
print(json.dumps({"devices": ndev, "device_kind": jax.devices()[0].device_kind, "queries": queries,
                  "first_call_s": first, "median_s": med, "queries_per_s": queries / med}))
"""


def measure_devices(model, queries, layer, ndev, visible):
    """One child process's row: ``ndev`` of ``visible`` devices."""
    # Only the CPU backend reads this flag; on GPUs the real devices are used.
    path = os.pathsep.join([_ROOT] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={visible}", PYTHONPATH=path)
    out = subprocess.run([sys.executable, "-c", CHILD, model, str(queries), str(layer), str(ndev)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks sharding", description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=8)
    ap.add_argument("--queries", type=int, default=64)
    ap.add_argument("--layer", type=int, default=2)
    ap.add_argument("--model", default="dcgan-mnist")
    ap.add_argument("--out", default=None)
    return ap


def run(args) -> dict:
    rows = [measure_devices(args.model, args.queries, args.layer, n, args.devices) for n in (1, args.devices)]
    # after the children: this process initialises its own backend only now
    return {**record_header(), "model": args.model, "layer": args.layer, "runs": rows,
            "speedup": rows[1]["queries_per_s"] / rows[0]["queries_per_s"]}


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    rec = run(args)
    print(json.dumps(rec, indent=1))
    if args.out:
        write_json(args.out, rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
