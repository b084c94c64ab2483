"""The precision policy, read off the traced programs (a CPU can check what a GPU
would be asked to do): every multiply that decides membership is float32 at
``Precision.HIGHEST``; BerOpt's decoder passes follow ``ber_precision``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import gbas_jax as gb
from gbas_jax.core import beropt, kept, precision, rrt
from conftest import z_query

pytestmark = pytest.mark.fast

MULTIPLIES = ("dot_general", "conv_general_dilated")


def multiplies(jaxpr):
    """Every dot / conv equation of a (closed) jaxpr, nested ones included."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in MULTIPLIES:
            yield eqn
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                if hasattr(sub, "eqns") or hasattr(getattr(sub, "jaxpr", None), "eqns"):
                    yield from multiplies(sub)


def precisions(fn, *args):
    eqns = list(multiplies(jax.make_jaxpr(fn)(*args)))
    assert eqns, "no multiply traced"
    return {(e.primitive.name, str(e.params.get("precision")), str(e.invars[0].aval.dtype)) for e in eqns}


HIGHEST = str((lax.Precision.HIGHEST, lax.Precision.HIGHEST))


@pytest.mark.parametrize("ber_precision", ["float32", "tf32", "bfloat16"])
def test_region_decisions_are_float32_highest_whatever_beropt_uses(small_gen, fast_cfg, ber_precision):
    cfg = fast_cfg.replace(ber_precision=ber_precision, region_path="full")
    z0 = jnp.asarray(z_query(0, small_gen.latent_dim))
    V = jnp.sign(small_gen.boundary(z0[None], 2)[0]).astype(jnp.int8)
    z = jnp.ones((4, small_gen.latent_dim))
    seen = precisions(lambda z: gb.region_margin(small_gen, z, 2, V), z)
    seen |= precisions(lambda z0: rrt.grow(small_gen, z0, 2, V, cfg, jax.random.key(0)), z0)
    sizes = kept.plan(small_gen, 2, V, "kept")
    seen |= precisions(lambda z: kept.kept_margin(small_gen, z, 2, kept.build(small_gen, 2, V, sizes)), z)
    assert {p for _, p, _ in seen} == {HIGHEST}, seen
    assert {d for _, _, d in seen} == {"float32"}, seen


@pytest.mark.parametrize("name, want_precision, want_dtype", [
    ("float32", HIGHEST, "float32"),
    ("tf32", str((lax.Precision.HIGH, lax.Precision.HIGH)), "float32"),
    ("bfloat16", HIGHEST, "bfloat16"),
])
def test_beropt_decoder_passes_follow_the_setting(small_gen, name, want_precision, want_dtype):
    cfg = gb.EGBASConfig(ber_precision=name)
    z0 = jnp.asarray(z_query(1, small_gen.latent_dim))
    h0 = small_gen.features(z0[None], 2)[0]
    x0 = small_gen.generate(z0[None])[0]
    logits = jnp.zeros(h0.size)
    grad = precisions(lambda lg: beropt.loss_and_grad(lg, small_gen, h0, x0, 2, jax.random.key(0), cfg), logits)
    assert {(p, d) for _, p, d in grad} == {(want_precision, want_dtype)}, grad
    # ... while the hard objective J that BerOpt reports is always float32 at HIGHEST.
    hard = precisions(lambda keep: beropt.hard_objective(small_gen, h0, x0, 2, keep, cfg), logits > 0)
    assert {(p, d) for _, p, d in hard} == {(HIGHEST, "float32")}, hard


def test_auto_is_float32_on_a_cpu_and_results_do_not_change(small_gen):
    assert precision.resolve("auto") == ("float32" if jax.default_backend() == "cpu" else "tf32")
    with pytest.raises(ValueError, match="ber_precision"):
        gb.EGBASConfig(ber_precision="fp8")
    z0 = z_query(2, small_gen.latent_dim)
    cfg = gb.EGBASConfig(ber_steps=100, ber_window=50, ber_lambda=1e-2)
    a = gb.ber_opt(small_gen, z0, 2, cfg, key=jax.random.key(0))
    b = gb.ber_opt(small_gen, z0, 2, cfg.replace(ber_precision="float32"), key=jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
