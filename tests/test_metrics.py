import numpy as np
import pytest

import gbas_jax as gb

pytestmark = pytest.mark.fast


def test_image_variation_matches_numpy():
    x = np.random.default_rng(0).standard_normal((7, 5, 5, 3)).astype(np.float32)
    assert float(gb.metrics.image_variation(x)) == pytest.approx(np.std(x, axis=0, ddof=0).mean(), rel=1e-5)
    assert float(gb.metrics.image_variation(np.repeat(x[:1], 4, axis=0))) == pytest.approx(0.0, abs=1e-6)


def test_mask_equals_slicing():
    x = np.random.default_rng(1).standard_normal((6, 4, 4, 1)).astype(np.float32)
    mask = np.array([1, 1, 0, 1, 0, 0], bool)
    assert float(gb.metrics.image_variation(x, mask)) == pytest.approx(
        float(gb.metrics.image_variation(x[mask])), rel=1e-5)
    with pytest.raises(ValueError):
        gb.metrics.image_variation(x, mask[:3])


def test_discriminator_similarity(small_disc):
    rng = np.random.default_rng(2)
    q = rng.uniform(-1, 1, (28, 28, 1)).astype(np.float32)
    same = np.repeat(q[None], 3, axis=0)
    np.testing.assert_allclose(gb.metrics.discriminator_similarity(small_disc, same, q), 1.0, rtol=1e-5)
    imgs = rng.uniform(-1, 1, (5, 28, 28, 1)).astype(np.float32)
    got = np.asarray(gb.metrics.discriminator_similarity(small_disc, imgs, q))
    feats = [np.asarray(f).reshape(5, -1) for f in small_disc.features(imgs)]
    f0 = [np.asarray(f).reshape(1, -1) for f in small_disc.features(q[None])]
    want = [np.mean((f @ g.T)[:, 0] / (np.linalg.norm(f, axis=1) * np.linalg.norm(g))) for f, g in zip(feats, f0)]
    assert got.shape == (len(feats),)
    np.testing.assert_allclose(got, want, rtol=1e-4)
    masked = gb.metrics.discriminator_similarity(small_disc, imgs, q, mask=np.array([1, 0, 1, 0, 0]))
    np.testing.assert_allclose(masked, gb.metrics.discriminator_similarity(small_disc, imgs[[0, 2]], q), rtol=1e-5)
