import functools

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gbas_jax as gb
from gbas_jax.core.rrt import SPACING_RTOL
from conftest import z_query

pytestmark = pytest.mark.fast

ARCHS = [
    dict(latent_dim=2, image_size=28, channels=1, widths=(8, 8, 4, 4)),
    dict(latent_dim=6, image_size=32, channels=1, widths=(8, 8, 4, 4)),
]
TOL = 1.0 - SPACING_RTOL


@functools.lru_cache(maxsize=None)
def model(arch_index, seed):
    return gb.models.dcgan(key=jax.random.key(seed), **ARCHS[arch_index])


def random_indicator(gen, z0, layer, frac, seed):
    a0 = np.asarray(gen.boundary(z0[None], layer))[0]
    keep = np.random.default_rng(seed).random(a0.size) < frac
    return (keep * np.sign(a0)).astype(np.int8)


def check_tree(gen, z0, layer, V, cfg, tree):
    n = int(tree.num_samples)
    samples = np.asarray(tree.samples)
    parents = np.asarray(tree.parents)
    assert 1 <= n <= cfg.capacity
    np.testing.assert_array_equal(samples[0], z0)  # node 0 is the query
    assert parents[0] == -1
    assert np.all(samples[n:] == 0) and np.all(parents[n:] == -1)  # padding
    s = samples[:n].astype(np.float64)
    # Parents are earlier nodes, one step away.
    idx = np.arange(1, n)
    assert np.all((parents[1:n] >= 0) & (parents[1:n] < idx))
    step = np.linalg.norm(s[1:] - s[parents[1:n]], axis=1)
    np.testing.assert_allclose(step, cfg.step_size, rtol=1e-4)
    # Every pair is at least delta (1 - 1e-3) apart.
    if n > 1:
        d = np.linalg.norm(s[:, None] - s[None], axis=-1)
        d[np.diag_indices(n)] = np.inf
        assert d.min() >= cfg.step_size * TOL * (1 - 1e-5), d.min()
    # Every sample is in the region, up to a small float margin (samples sit on boundaries).
    a0 = np.asarray(gen.boundary(z0[None], layer))[0]
    margin = 1e-5 * (1.0 + np.abs(a0).max())
    assert bool(np.all(gb.in_region(gen, samples[:n], layer, V, margin=margin)))
    # Stored rejected candidates are outside it, again up to the margin.
    m = min(int(tree.num_rejected), cfg.reject_capacity)
    if m:
        outside = np.asarray(gb.region_margin(gen, np.asarray(tree.rejected[:m]), layer, V))
        assert np.all(outside < margin)
    assert bool(tree.rejected_overflow) == (int(tree.num_rejected) > cfg.reject_capacity)
    assert int(tree.num_proposals) == cfg.proposals * int(tree.iterations)
    if tree.stop() == gb.StopReason.CAPACITY:
        assert n == cfg.capacity
    else:
        assert int(tree.iterations) == cfg.max_iterations and n < cfg.capacity


# 12 examples: each one compiles its own tree (kept sizes are static).
@settings(max_examples=12, suppress_health_check=[HealthCheck.too_slow])
@given(arch=st.integers(0, 1), weights=st.integers(0, 2), layer=st.integers(1, 4),
       seed=st.integers(0, 2 ** 16), step=st.sampled_from([0.05, 0.3]),
       frac=st.sampled_from([0.02, 0.2]))
@pytest.mark.slow
def test_gb_rrt_guarantees(arch, weights, layer, seed, step, frac):
    gen = model(arch, weights)
    z0 = z_query(seed, gen.latent_dim)
    V = random_indicator(gen, z0, layer, frac, seed)
    cfg = gb.EGBASConfig(capacity=48, proposals=16, max_iterations=40, step_size=step,
                         interval=1.0, reject_capacity=32)
    tree = gb.gb_rrt(gen, z0, layer, V, cfg, key=jax.random.key(seed))
    check_tree(gen, z0, layer, V, cfg, tree)


def test_tree_grows_to_boundaries_and_overflows_as_data():
    gen = model(1, 0)
    z0 = z_query(7, gen.latent_dim)
    V = random_indicator(gen, z0, 1, 0.3, 7)
    cfg = gb.EGBASConfig(capacity=2000, proposals=32, max_iterations=25, step_size=0.2, interval=2.0,
                         reject_capacity=8)
    tree = gb.gb_rrt(gen, z0, 1, V, cfg, key=jax.random.key(1))
    assert tree.stop() == gb.StopReason.MAX_ITERATIONS
    assert int(tree.iterations) == 25
    assert int(tree.num_rejected) > 8 and bool(tree.rejected_overflow)
    check_tree(gen, z0, 1, V, cfg, tree)


def test_capacity_stop_and_dropped_count():
    gen = model(0, 1)
    z0 = z_query(8, gen.latent_dim)
    V = np.zeros(gen.layer_size(2), np.int8)  # whole space: every well-spaced step is accepted
    cfg = gb.EGBASConfig(capacity=10, proposals=64, max_iterations=100, step_size=0.1, interval=1.0)
    tree = gb.gb_rrt(gen, z0, 2, V, cfg, key=jax.random.key(2))
    assert tree.stop() == gb.StopReason.CAPACITY
    assert int(tree.num_samples) == 10 and int(tree.num_rejected) == 0
    assert int(tree.num_dropped) > 0  # the first batch accepts more than fits
    check_tree(gen, z0, 2, V, cfg, tree)


def test_vector_interval():
    gen = model(1, 0)
    z0 = z_query(9, gen.latent_dim)
    V = np.zeros(gen.layer_size(1), np.int8)
    interval = (1e-3,) * (gen.latent_dim - 1) + (1.0,)
    cfg = gb.EGBASConfig(capacity=20, proposals=8, max_iterations=50, step_size=0.1, interval=interval)
    tree = gb.gb_rrt(gen, z0, 1, V, cfg, key=jax.random.key(3))
    s = np.asarray(tree.samples[: int(tree.num_samples)])
    spread = np.abs(s - z0).max(axis=0)
    assert spread[-1] > 0.5 and np.all(spread[:-1] < 0.1)
    with pytest.raises(ValueError, match="interval"):
        gb.gb_rrt(gen, z0, 1, V, cfg.replace(interval=(1.0, 1.0)), key=jax.random.key(3))
