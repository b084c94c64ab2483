"""Compile overhead of ``gbas-jax sample`` with the persistent compilation cache.

    python -m benchmarks compile-cache [--runs 2] [--out FILE.json]

(``python -m benchmarks.compile_cache ...`` still works.)

Runs ``gbas-jax sample`` (the default model, layer and settings) once with
``--no-compile-cache`` (the reference), then ``--runs`` times, each in a fresh
process, all with one new, empty cache folder.  In each process the
E-GBAS stage is timed cold (the CLI's own ``egbas_s``) and then warm (the same call
again in the same process); the compile overhead is cold minus warm.  The first
run fills the cache; later runs should find every program there.  Also reports
each process's wall time and the cache's size.  The warm call is timed in the child
with :func:`benchmarks.common.timed` (the children get this checkout on their
``PYTHONPATH``); the record starts with the fields of
:func:`benchmarks.common.record_header`, read after the children have run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from .common import record_header, write_json

#: The checkout's root, put on the children's ``PYTHONPATH`` (they import benchmarks.common).
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, sys
import jax
from gbas_jax.cli import main
rc = main(["sample", "--no-progress", "--out", sys.argv[1]] + sys.argv[2:])
rec = json.load(open(sys.argv[1] + "/record.json"))
import gbas_jax as gb
from benchmarks.common import timed
gen = gb.load_pretrained("dcgan-mnist")
z0 = gb.query_latents(gen.latent_dim, 0)
k_run = jax.random.split(jax.random.key(0), 3)[0]
warm, _, _ = timed(lambda r: gb.egbas(gen, z0, 2, gb.EGBASConfig(), key=k_run), 0)   # one call, waited for
print(json.dumps({"rc": rc, "cold_s": rec["timings"]["egbas_s"], "warm_s": warm}))
"""


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks compile-cache", description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--out", default=None)
    return ap


def run(args) -> dict:
    """The reference run and ``args.runs`` cached runs, each printed as it ends."""
    cache = tempfile.mkdtemp(prefix="gbas-jax-cache-")
    work = tempfile.mkdtemp(prefix="gbas-jax-cc-")
    path = os.pathsep.join([_ROOT] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
    env = {**os.environ, "GBAS_JAX_CACHE_DIR": cache, "GBAS_JAX_COMPILE_CACHE": "1", "PYTHONPATH": path}
    runs = []
    for i in range(-1, args.runs):
        extra = ["--no-compile-cache"] if i < 0 else []
        t = time.perf_counter()     # the whole child process: one span
        r = subprocess.run([sys.executable, "-c", CHILD, os.path.join(work, f"run{i + 1}"), *extra],
                           capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t
        if r.returncode:
            raise SystemExit(r.stderr[-2000:])
        rec = json.loads(r.stdout.strip().splitlines()[-1])
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(cache) for f in fs)
        rec.update(run=i + 1, cache=i >= 0, process_wall_s=wall, overhead_s=rec["cold_s"] - rec["warm_s"], cache_bytes=size)
        runs.append(rec)
        print(json.dumps(rec), flush=True)
    header = record_header()    # after the children: this process initialises its backend only now
    ref, cached = runs[0], runs[1:]
    out = {**header, "device": header["machine"]["device_kind"], "jax": header["machine"]["jax"], "runs": runs,
           "overhead_ratio_no_cache_over_second": ref["overhead_s"] / max(cached[1]["overhead_s"], 1e-9)
           if len(cached) > 1 else None,
           "overhead_ratio_first_over_second": cached[0]["overhead_s"] / max(cached[1]["overhead_s"], 1e-9)
           if len(cached) > 1 else None}
    return out


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    out = run(args)
    print(json.dumps({k: v for k, v in out.items() if k != "runs"}))
    if args.out:
        write_json(args.out, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
