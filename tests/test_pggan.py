"""PGGAN models: the block decomposition, pixel norm and minibatch stddev against numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gbas_jax as gb
from gbas_jax.models.pggan import default_widths, minibatch_stddev, pixel_norm

pytestmark = pytest.mark.fast


@pytest.mark.parametrize("layout", ["zoo", "dissect"])
def test_decomposition(layout):
    gen = gb.models.pggan(key=jax.random.key(0), latent_dim=8, resolution=16, max_width=16, layout=layout,
                          bias_scale=0.1)
    assert gen.num_layers == 6 and gen.image_shape == (16, 16, 3)
    z = jax.random.normal(jax.random.key(1), (3, 8))
    x = gen.generate(z)
    sizes = [(4, 4), (4, 4), (8, 8), (8, 8), (16, 16), (16, 16)]
    for layer in range(1, gen.num_layers + 1):
        assert gen.layer_shape(layer) == sizes[layer - 1] + (16,)
        np.testing.assert_allclose(gen.decode(gen.features(z, layer), layer), x, rtol=1e-5, atol=1e-5)
        assert gen.boundary(z, layer).shape == (3, 16 * sizes[layer - 1][0] * sizes[layer - 1][1])


@pytest.mark.slow
def test_zoo_blocks_end_in_pixel_norm():
    gen = gb.models.pggan(key=jax.random.key(0), latent_dim=8, resolution=8, max_width=8)
    h = np.asarray(gen.features(jax.random.normal(jax.random.key(1), (2, 8)), 3))
    np.testing.assert_allclose(np.mean(h ** 2, axis=-1), 1.0, rtol=1e-4)


def test_pixel_norm_and_stddev_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4, 4, 5)).astype(np.float32)
    ref = x / np.sqrt(np.mean(x ** 2, axis=-1, keepdims=True) + 1e-8)
    np.testing.assert_allclose(pixel_norm(jnp.asarray(x)), ref, rtol=1e-5)
    for b in (8, 6, 1):           # groups of 4; 6 is not divisible -> one group; 1 -> zeros
        y = np.asarray(minibatch_stddev(jnp.asarray(x[:b])))
        g = min(b, 4) if b % min(b, 4) == 0 else b
        want = np.zeros((b, 4, 4, 1), np.float32)
        if g > 1:
            for s in range(0, b, g):
                grp = x[s:s + g].astype(np.float64)
                want[s:s + g] = np.sqrt(grp.var(axis=0, ddof=1) + 1e-8).mean()
        np.testing.assert_allclose(y[..., :5], x[:b])
        np.testing.assert_allclose(y[..., 5:], want, rtol=1e-5)


def test_default_widths_and_validation():
    assert default_widths(256) == (512, 512, 512, 512, 256, 128, 64)
    assert default_widths(64, max_width=64) == (64, 64, 64, 64, 64)
    with pytest.raises(ValueError, match="power of two"):
        gb.models.pggan(key=jax.random.key(0), resolution=48)
    with pytest.raises(ValueError, match="layout"):
        gb.models.pggan(key=jax.random.key(0), resolution=8, layout="tf")
    with pytest.raises(ValueError, match="widths"):
        gb.models.pggan(key=jax.random.key(0), resolution=8, widths=(4,))


@pytest.mark.slow
def test_discriminator_features_before_minibatch_statistic():
    d = gb.models.pggan_discriminator(key=jax.random.key(0), resolution=16, max_width=8)
    x = jax.random.normal(jax.random.key(1), (4, 16, 16, 3))
    feats = d.features(x)
    assert [f.shape for f in feats] == [(4, 16, 16, 8), (4, 8, 8, 8), (4, 4, 4, 8)]
    # features of one image do not depend on the rest of the batch; the logits do
    np.testing.assert_allclose(d.features(x[:1])[-1], feats[-1][:1], rtol=1e-5, atol=1e-6)
    assert d(x).shape == (4,)
