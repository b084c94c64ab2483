"""Why gbas_jax.models.ops exists: the input gradient of a convolution inside a
``lax.fori_loop``, with JAX's own VJP against gbas_jax.models.ops.conv2d.

    python -m benchmarks.conv_grad_in_loop

Prints ms per iteration for a standalone jitted call and for the same work
inside a 100-step fori_loop (3x3 conv, 8 x 16 x 16 x 32, and a stride-2
transposed conv 8 x 8 x 8 x 64 -> 32).
"""

import time

import jax
import jax.numpy as jnp
from jax import lax

from gbas_jax.models.ops import conv2d

DN = ("NHWC", "HWIO", "NHWC")


def ms_per_iter(f, x):
    one = jax.jit(f)
    loop = jax.jit(lambda x: lax.fori_loop(0, 100, lambda i, c: c + f(x * (1 + c * 1e-9)), 0.0))
    one(x).block_until_ready()
    loop(x).block_until_ready()
    t = time.perf_counter()
    for _ in range(100):
        one(x).block_until_ready()
    t_one = (time.perf_counter() - t) * 10
    t = time.perf_counter()
    loop(x).block_until_ready()
    return t_one, (time.perf_counter() - t) * 10


def main():
    cases = {
        "conv3x3": (jax.random.normal(jax.random.key(0), (8, 16, 16, 32)),
                    jax.random.normal(jax.random.key(1), (3, 3, 32, 32)), (1, 1), ((1, 1), (1, 1)), (1, 1)),
        "convT4x4/2": (jax.random.normal(jax.random.key(0), (8, 8, 8, 64)),
                       jax.random.normal(jax.random.key(1), (4, 4, 64, 32)), (1, 1), ((2, 2), (2, 2)), (2, 2)),
    }
    print(f"device: {jax.devices()[0].device_kind}, jax {jax.__version__}")
    for name, (x, k, st, pad, dil) in cases.items():
        for impl, conv in (("lax VJP", lambda x: lax.conv_general_dilated(x, k, st, pad, lhs_dilation=dil,
                                                                           dimension_numbers=DN)),
                           ("ops.conv2d", lambda x: conv2d(x, k, st, pad, dil))):
            f = lambda x, conv=conv: jnp.sum(jax.grad(lambda x: jnp.sum(conv(x) ** 2))(x))
            one, loop = ms_per_iter(f, x)
            print(f"{name:<11} {impl:<11} standalone {one:7.2f} ms/it   in fori_loop {loop:7.2f} ms/it")


if __name__ == "__main__":
    main()
