"""Why gbas_jax.models.ops exists: the input gradient of a convolution inside a
``lax.fori_loop``, with JAX's own VJP against gbas_jax.models.ops.conv2d.

    python -m benchmarks conv-grad-in-loop   # or: python -m benchmarks.conv_grad_in_loop

Prints ms per iteration for a standalone jitted call and for the same work
inside a 100-step fori_loop (3x3 conv, 8 x 16 x 16 x 32, and a stride-2
transposed conv 8 x 8 x 8 x 64 -> 32).  Both programs are called once untimed
(compilation), then the standalone one 100 times and the loop once, timed with
:func:`benchmarks.common.timed`.  Writes no file.
"""

from __future__ import annotations

import argparse
import sys

from .common import record_header, timed

DN = ("NHWC", "HWIO", "NHWC")


def ms_per_iter(f, x):
    """``(standalone ms per call, ms per fori_loop step)``: the mean of 100 standalone
    calls, and one 100-step loop over 100."""
    import jax
    from jax import lax
    one = jax.jit(f)
    loop = jax.jit(lambda x: lax.fori_loop(0, 100, lambda i, c: c + f(x * (1 + c * 1e-9)), 0.0))
    # call 0 compiles both programs (untimed), then 100 standalone calls are timed
    _, t_one, _ = timed(lambda r: (one(x), loop(x)) if r == 0 else one(x), 100)
    t_loop, _, _ = timed(lambda r: loop(x), 0)      # one call of the compiled loop, waited for
    return sum(t_one) * 10, t_loop * 10


def parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog="python -m benchmarks conv-grad-in-loop",
                                   description=__doc__.splitlines()[0])


def run(args) -> dict:
    import jax
    import jax.numpy as jnp
    from jax import lax

    from gbas_jax.models.ops import conv2d

    header = record_header()
    cases = {
        "conv3x3": (jax.random.normal(jax.random.key(0), (8, 16, 16, 32)),
                    jax.random.normal(jax.random.key(1), (3, 3, 32, 32)), (1, 1), ((1, 1), (1, 1)), (1, 1)),
        "convT4x4/2": (jax.random.normal(jax.random.key(0), (8, 8, 8, 64)),
                       jax.random.normal(jax.random.key(1), (4, 4, 64, 32)), (1, 1), ((2, 2), (2, 2)), (2, 2)),
    }
    rows = []
    for name, (x, k, st, pad, dil) in cases.items():
        for impl, conv in (("lax VJP", lambda x: lax.conv_general_dilated(x, k, st, pad, lhs_dilation=dil,
                                                                           dimension_numbers=DN)),
                           ("ops.conv2d", lambda x: conv2d(x, k, st, pad, dil))):
            f = lambda x, conv=conv: jnp.sum(jax.grad(lambda x: jnp.sum(conv(x) ** 2))(x))  # noqa: E731
            one, loop = ms_per_iter(f, x)
            rows.append({"case": name, "impl": impl, "standalone_ms": one, "fori_loop_ms": loop})
    return {**header, "rows": rows}


def main(argv=None) -> int:
    rec = run(parser().parse_args(argv))
    m = rec["machine"]
    print(f"device: {m['device_kind']}, jax {m['jax']}")
    for r in rec["rows"]:
        print(f"{r['case']:<11} {r['impl']:<11} standalone {r['standalone_ms']:7.2f} ms/it   "
              f"in fori_loop {r['fori_loop_ms']:7.2f} ms/it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
