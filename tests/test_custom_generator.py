"""A user's own generator, wrapped with gb.FunctionalModel, runs through every stage."""

import pytest
import jax
import jax.numpy as jnp
import numpy as np

import gbas_jax as gb

pytestmark = pytest.mark.fast


# A tiny MLP generator written by hand: z (3,) -> 16 -> 12 -> image 4x4x1.
def transform(params, z):
    return z / jnp.sqrt(jnp.mean(z ** 2, axis=-1, keepdims=True) + 1e-8)  # pixel norm


def linear1(params, h):
    return h @ params["w1"] + params["b1"]


def linear2(params, h):
    return h @ params["w2"] + params["b2"]


def to_image(params, h):
    return (h @ params["w3"]).reshape(h.shape[0], 4, 4, 1)


def leaky(params, a):
    return jax.nn.leaky_relu(a, 0.2)


def tanh(params, a):
    return jnp.tanh(a)


def make():
    k = jax.random.split(jax.random.key(0), 5)
    params = {"w1": jax.random.normal(k[0], (3, 16)), "b1": 0.1 * jax.random.normal(k[1], (16,)),
              "w2": jax.random.normal(k[2], (16, 12)) / 4, "b2": 0.1 * jax.random.normal(k[3], (12,)),
              "w3": jax.random.normal(k[4], (12, 16)) / 3}
    model = gb.FunctionalModel(latent_dim=3, pre_activations=(linear1, linear2, to_image),
                               activations=(leaky, leaky, tanh), transform=transform)
    return gb.Generator(model, params), params


def test_wrapped_generator_interface():
    gen, p = make()
    assert (gen.latent_dim, gen.num_layers) == (3, 2)
    z = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    zn = z / np.sqrt(np.mean(z ** 2, axis=1, keepdims=True) + 1e-8)
    a1 = zn @ np.asarray(p["w1"]) + np.asarray(p["b1"])
    h1 = np.where(a1 > 0, a1, 0.2 * a1)
    a2 = h1 @ np.asarray(p["w2"]) + np.asarray(p["b2"])
    with jax.default_matmul_precision("highest"):
        np.testing.assert_allclose(gen.boundary(z, 1), a1, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(gen.boundary(z, 2), a2, rtol=1e-5, atol=1e-5)
        for layer in (0, 1, 2):
            np.testing.assert_allclose(gen.decode(gen.features(z, layer), layer), gen.generate(z), atol=1e-6)


def test_wrapped_generator_runs_egbas():
    gen, _ = make()
    cfg = gb.EGBASConfig(ber_steps=50, ber_check=10, ber_window=10, capacity=40, proposals=8, max_iterations=100,
                         step_size=0.1, interval=1.0, reject_capacity=64, ber_lambda=0.02)
    z0 = np.array([0.3, -1.0, 0.5], np.float32)
    res = gb.egbas(gen, z0, 1, cfg, key=jax.random.key(0))
    # LeakyReLU units are never "inactive", so the indicator can take both signs.
    n = int(res.tree.num_samples)
    assert n > 1 and int(res.num_kept) > 0
    assert bool(np.all(gb.in_region(gen, np.asarray(res.tree.samples[:n]), 1, res.indicator, margin=1e-5)))
