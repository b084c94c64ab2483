import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gbas_jax as gb
from numpy_dcgan import conv, preactivations

pytestmark = pytest.mark.fast

ARCHS = [
    dict(latent_dim=8, image_size=28, channels=1, widths=(16, 8, 8, 8)),
    dict(latent_dim=6, image_size=32, channels=3, widths=(16, 8, 8, 4)),
    dict(latent_dim=5, image_size=64, channels=1, widths=(16, 8, 8, 4)),
]


@pytest.mark.parametrize("arch", [a if a["image_size"] == 28 else pytest.param(a, marks=pytest.mark.slow) for a in ARCHS],
                         ids=lambda a: f"{a['image_size']}px")
def test_decode_features_is_generate(arch):
    gen = gb.models.dcgan(key=jax.random.key(3), **arch)
    z = jax.random.normal(jax.random.key(4), (5, arch["latent_dim"]))
    x = gen.generate(z)
    assert x.shape == (5, arch["image_size"], arch["image_size"], arch["channels"])
    assert gen.num_layers == 4
    for layer in range(0, gen.num_layers + 1):
        np.testing.assert_allclose(gen.decode(gen.features(z, layer), layer), x, rtol=0, atol=1e-6)


@pytest.mark.parametrize("arch", [a if a["image_size"] == 28 else pytest.param(a, marks=pytest.mark.slow) for a in ARCHS],
                         ids=lambda a: f"{a['image_size']}px")
def test_boundary_matches_numpy(arch):
    gen = gb.models.dcgan(key=jax.random.key(5), **arch)
    z = np.random.default_rng(0).standard_normal((3, arch["latent_dim"])).astype(np.float32)
    ref, img = preactivations(gen, z)
    with jax.default_matmul_precision("highest"):
        for layer in range(1, gen.num_layers + 1):
            a = np.asarray(gen.boundary(z, layer))
            want = ref[layer - 1].reshape(3, -1)  # NHWC row-major
            assert a.shape == (3, gen.layer_size(layer))
            scale = np.abs(want).max()
            np.testing.assert_allclose(a, want, rtol=0, atol=1e-5 * scale)
        np.testing.assert_allclose(gen.generate(z), img, rtol=0, atol=1e-5)


def test_generator_is_a_pytree(small_gen):
    leaves, treedef = jax.tree_util.tree_flatten(small_gen)
    assert all(isinstance(x, jax.Array) for x in leaves)
    again = jax.tree_util.tree_unflatten(treedef, leaves)
    z = jnp.ones((2, small_gen.latent_dim))
    np.testing.assert_array_equal(again.generate(z), small_gen.generate(z))
    doubled = jax.tree_util.tree_map(lambda p: p * 1.0, small_gen)
    out = jax.jit(lambda g, z: g.generate(z))(doubled, z)
    np.testing.assert_allclose(out, small_gen.generate(z), atol=1e-6)


def test_discriminator_features(small_disc):
    x = jax.random.uniform(jax.random.key(0), (3, 28, 28, 1), minval=-1, maxval=1)
    with jax.default_matmul_precision("highest"):  # no TF32 on GPUs
        feats = small_disc.features(x)
    assert [f.shape for f in feats] == [(3, 14, 14, 8), (3, 14, 14, 8), (3, 7, 7, 16)]
    # Independent numpy forward of the first two blocks: conv + bias, LeakyReLU(0.2).
    P = small_disc.params["params"]
    h = np.asarray(x, np.float64)
    for k, (name, stride) in enumerate([("convs_0", 2), ("convs_1", 1)]):
        a = conv(h, np.asarray(P[name]["kernel"], np.float64), padding=1, stride=stride)
        h = np.where(a + np.asarray(P[name]["bias"]) > 0, a + np.asarray(P[name]["bias"]),
                     0.2 * (a + np.asarray(P[name]["bias"])))
        np.testing.assert_allclose(feats[k], h, atol=1e-5)
    assert small_disc(x).shape == (3,)


@pytest.mark.parametrize("bad", [dict(image_size=48), dict(widths=(8, 8)), dict(latent_dim=0)])
def test_bad_model_settings(bad):
    kw = dict(latent_dim=4, image_size=32, channels=1, widths=(8, 8, 8, 8))
    kw.update(bad)
    with pytest.raises(ValueError):
        gb.models.dcgan(key=jax.random.key(0), **kw)
