import jax
import numpy as np
import pytest

import gbas_jax as gb
from conftest import z_query
from numpy_dcgan import preactivations

pytestmark = pytest.mark.fast


def numpy_in_region(gen, z, layer, V):
    a = preactivations(gen, z)[0][layer - 1].reshape(len(z), -1)
    s = np.where(V != 0, V * a, np.inf)
    return s.min(axis=1)


@pytest.mark.parametrize("layer", [1, 2, 3, 4])
def test_in_region_matches_numpy(small_gen, layer):
    rng = np.random.default_rng(layer)
    z0 = z_query(layer, small_gen.latent_dim)
    a0 = np.asarray(small_gen.boundary(z0[None], layer))[0]
    # A random indicator over a random 5% of units, signed as at z0.
    keep = rng.random(a0.size) < 0.05
    V = (keep * np.sign(a0)).astype(np.int8)
    radii = np.geomspace(1e-3, 1.0, 200)[:, None]  # from well inside to well outside
    z = (z0 + radii * rng.standard_normal((200, small_gen.latent_dim))).astype(np.float32)
    with jax.default_matmul_precision("highest"):
        got = np.asarray(gb.in_region(small_gen, z, layer, V))
    slack = numpy_in_region(small_gen, z, layer, V)
    scale = np.abs(a0).max()
    decided = np.abs(slack) > 1e-5 * scale  # away from a boundary, the decision is exact
    assert decided.mean() > 0.95
    np.testing.assert_array_equal(got[decided], slack[decided] >= 0)
    assert 0 < got.sum() < len(z)  # the test is not trivial
    assert bool(gb.in_region(small_gen, z0[None], layer, V)[0])  # the query is inside


def test_empty_indicator_is_whole_space(small_gen):
    V = np.zeros(small_gen.layer_size(1), np.int8)
    z = np.random.default_rng(0).standard_normal((50, small_gen.latent_dim)).astype(np.float32) * 10
    assert bool(np.all(gb.in_region(small_gen, z, 1, V)))
    assert np.all(np.isinf(gb.region_margin(small_gen, z, 1, V)))


def test_halfspace_indicator(small_gen):
    z0 = z_query(0, small_gen.latent_dim)
    a0 = np.asarray(small_gen.boundary(z0[None], 2))[0]
    theta = np.linspace(0, 1, a0.size).astype(np.float32)
    V = np.asarray(gb.halfspace_indicator(small_gen, z0, 2, theta, 0.5))
    np.testing.assert_array_equal(V, np.where(theta > 0.5, np.sign(a0), 0).astype(np.int8))
    with pytest.raises(ValueError, match="threshold"):
        gb.halfspace_indicator(small_gen, z0, 2, theta, 1.5)


def test_nrs_fraction(small_gen):
    z0 = z_query(0, small_gen.latent_dim)
    z = np.stack([z0, z0, -z0, z0 + 5.0]).astype(np.float32)
    s = np.sign(preactivations(small_gen, z)[0][0].reshape(4, -1))
    want = np.mean(np.all(s == s[0], axis=1))
    assert float(gb.nrs_fraction(small_gen, z, 1, z0)) == pytest.approx(want)
    assert want == 0.5


def test_region_input_validation(small_gen):
    V = np.zeros(small_gen.layer_size(1), np.int8)
    z = np.zeros((2, small_gen.latent_dim), np.float32)
    with pytest.raises(ValueError, match="indicator"):
        gb.in_region(small_gen, z, 1, V[:-1])
    with pytest.raises(ValueError, match="shape"):
        gb.in_region(small_gen, z[0], 1, V)
    with pytest.raises(ValueError, match="layer"):
        gb.in_region(small_gen, z, 9, V)
