"""The shipped models load offline and the default one draws digits."""

import jax
import numpy as np
import pytest

import gbas_jax as gb
from digit_judge import judge, mnist_split

pytestmark = pytest.mark.fast


SHIPPED = [("dcgan-mnist", 100, 28, 4), ("dcgan-mnist-2d", 2, 28, 4), ("pggan-mnist", 128, 32, 8),
           ("stylegan2-mnist", 64, 32, 7)]
SLOW_TO_LOAD = ("pggan-mnist", "stylegan2-mnist")    # a program per layer: the slow tier


@pytest.mark.parametrize("name, dz, size, layers", [s if s[0] not in SLOW_TO_LOAD else pytest.param(*s, marks=pytest.mark.slow)
                                                     for s in SHIPPED])
def test_shipped_models_load(name, dz, size, layers):
    assert name in gb.PRETRAINED
    gen = gb.load_pretrained(name)
    disc = gb.load_discriminator(name)
    assert gen.latent_dim == dz and gen.num_layers == layers
    z = jax.random.normal(jax.random.key(0), (4, dz))
    x = gen.generate(z)
    assert x.shape == (4, size, size, 1) and bool(np.all(np.isfinite(np.asarray(x))))
    feats = disc.features(x)
    assert len(feats) >= 3 and all(f.shape[0] == 4 for f in feats)
    for layer in range(1, gen.num_layers + 1):
        np.testing.assert_allclose(gen.decode(gen.features(z, layer), layer), x, atol=1e-6)


def test_unknown_model_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="neither a shipped model"):
        gb.load_pretrained("no-such-model")
    with pytest.raises(ValueError, match="neither a shipped model"):
        gb.load_pretrained(str(tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dcgan-mnist", "pggan-mnist", "stylegan2-mnist"])
def test_shipped_model_draws_digits(name):
    """Criterion: a classifier trained on real digits (94 % held-out accuracy) is
    confident on the samples (mean max-probability > 0.85; real digits 0.97), every
    class gets at least 2 % of them (no collapse), and their nearest-neighbour L2
    distance to real digits is within a quarter of the way from held-out real digits
    to uniform noise. Uniform noise fails.  The 32x32 PGGAN's images are cropped to
    the central 28x28 (the digits were padded by 2 pixels for training) and clipped
    to [-1, 1] (a PGGAN has no tanh); so are the 32x32 StyleGAN2's (no tanh either)."""
    gen = gb.load_pretrained(name)
    x = np.asarray(gen.generate(jax.random.normal(jax.random.key(123), (500, gen.latent_dim))))
    if x.shape[1] == 32:
        x = np.clip(x[:, 2:30, 2:30], -1.0, 1.0)
    fake = judge(x)
    real = judge(mnist_split()[2].reshape(-1, 28, 28, 1))
    noise = judge(np.random.default_rng(0).uniform(-1, 1, (500, 28, 28, 1)))
    assert real["judge_accuracy"] > 0.9  # the judge itself works
    print({"generated": fake, "real held-out": real, "noise": noise})
    near = real["nn_distance"] + 0.25 * (noise["nn_distance"] - real["nn_distance"])
    for figures in (fake, real):
        assert figures["confidence"] > 0.85
        assert figures["classes"].min() >= 0.02 * 500
        assert figures["nn_distance"] < near
    assert noise["confidence"] < 0.85
