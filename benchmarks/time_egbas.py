"""Wall time of one ``egbas`` call (and of ``egbas_batch``) after compilation, and
the compile time, on the shipped DCGAN-MNIST or on a randomly initialised
DCGAN-MNIST-sized generator (32x32, widths 128-64-32-32).

    python -m benchmarks time-egbas [--model dcgan-mnist|random] [--layer 2] [--capacity 500]
                                    [--batch 8] [--ber-lambda L] [--out FILE.json]

(``python -m benchmarks.time_egbas ...`` still works: ``benchmarks/gpu_check.sh``
calls it so.)

The random model's images vary little (std ~0.04), so its default is ``--ber-lambda
0.01`` (at the library default 0.1 every unit is dropped and the region is the whole
space).

The first call of each stage includes tracing and compilation; it is reported
as ``first_call_s``, and ``compile_s`` = first call - median later call.  The
record starts with the fields of :func:`benchmarks.common.record_header`; the
``device``, ``platform``, ``host`` and ``jax`` fields repeat its machine's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from .common import record_header, timed, write_json


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks time-egbas", description=__doc__.splitlines()[0])
    ap.add_argument("--layer", type=int, default=2)
    ap.add_argument("--capacity", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8, help="queries for egbas_batch (0 to skip)")
    ap.add_argument("--latent-dim", type=int, default=100, help="random model only")
    ap.add_argument("--model", default="dcgan-mnist", help="a loadable model, or 'random'")
    ap.add_argument("--ber-lambda", type=float, default=None)
    ap.add_argument("--out", default=None)
    return ap


def run(args) -> dict:
    import jax
    import numpy as np

    import gbas_jax as gb

    jax.config.update("jax_default_matmul_precision", "highest")  # no TF32 on GPUs
    if args.model == "random":
        gen = gb.models.dcgan(key=jax.random.key(0), latent_dim=args.latent_dim, image_size=32, channels=1)
        lam = 0.01 if args.ber_lambda is None else args.ber_lambda
        name = f"random DCGAN 32x32, Dz={gen.latent_dim}, widths={gen.model.module.widths}"
    else:
        gen = gb.load_pretrained(args.model)
        lam = gb.EGBASConfig().ber_lambda if args.ber_lambda is None else args.ber_lambda
        name = f"{args.model} (Dz={gen.latent_dim}, widths={gen.model.module.widths})"
    cfg = gb.EGBASConfig(capacity=args.capacity, max_iterations=100_000, ber_lambda=lam)
    z0s = np.asarray(jax.random.normal(jax.random.key(1), (max(args.batch, 1) + args.repeats + 1, gen.latent_dim)))

    def one(r):
        return gb.egbas(gen, z0s[-1] if r == args.repeats else z0s[r], args.layer, cfg, key=jax.random.key(r))

    header = record_header()
    m = header["machine"]
    first, times, res = timed(one, args.repeats)
    record = {
        **header,
        "device": m["device_kind"], "platform": m["backend"], "host": m["node"], "jax": m["jax"],
        "model": name,
        "layer": args.layer, "units": gen.layer_size(args.layer), "config": cfg.__dict__,
        "egbas": {"first_call_s": first, "median_s": statistics.median(times), "all_s": times,
                  "compile_s": first - statistics.median(times),
                  "num_samples": int(res.tree.num_samples), "num_kept": int(res.num_kept),
                  "ber_steps": int(res.ber_steps), "rrt_iterations": int(res.tree.iterations),
                  "stop_reason": res.tree.stop().name.lower()},
    }
    # The two stages on their own (BerOpt; GB-RRT with the indicator of the last run).
    def ber(r):
        return gb.ber_opt(gen, z0s[r], args.layer, cfg, key=jax.random.key(r), full_output=True)

    def rrt(r):
        return gb.gb_rrt(gen, z0s[-1], args.layer, res.indicator, cfg, key=jax.random.key(r))

    for name, fn in (("ber_opt", ber), ("gb_rrt", rrt)):
        f, ts, _ = timed(fn, args.repeats)
        record[name] = {"first_call_s": f, "median_s": statistics.median(ts)}
    if args.batch:
        def batch(r):
            return gb.egbas_batch(gen, z0s[r:r + args.batch], args.layer, cfg, key=jax.random.key(r))

        first_b, times_b, res_b = timed(batch, max(2, args.repeats // 2))
        med = statistics.median(times_b)
        record["egbas_batch"] = {"queries": args.batch, "first_call_s": first_b, "median_s": med,
                                 "compile_s": first_b - med, "queries_per_s": args.batch / med,
                                 "samples": int(np.sum(res_b.tree.num_samples))}
    return record


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    record = run(args)
    print(json.dumps(record, indent=2))
    if args.out:
        write_json(args.out, record, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
