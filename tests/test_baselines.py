import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gbas_jax as gb
from gbas_jax.core.baselines import linf_half_side

pytestmark = pytest.mark.fast


def fake_result(samples, rejected, reject_capacity=16):
    n, d = samples.shape
    buf = np.zeros((32, d), np.float32)
    buf[:n] = samples
    rej = np.zeros((reject_capacity, d), np.float32)
    m = min(len(rejected), reject_capacity)
    rej[:m] = rejected[:m]
    mean = samples.mean(axis=0)
    dist = np.linalg.norm(np.asarray(rejected, np.float64).reshape(-1, d) - mean, axis=1)
    tree = gb.RRTResult(samples=jnp.asarray(buf), parents=jnp.full((32,), -1), num_samples=jnp.int32(n),
                        rejected=jnp.asarray(rej), num_rejected=jnp.int32(len(rejected)),
                        iterations=jnp.int32(1), num_proposals=jnp.int32(1), num_dropped=jnp.int32(0),
                        stop_reason=jnp.int32(0), rejected_overflow=jnp.bool_(len(rejected) > reject_capacity),
                        sample_mean=jnp.asarray(mean), reject_min_dist=jnp.float32(dist.min(initial=np.inf)),
                        reject_max_dist=jnp.float32(dist.max(initial=-np.inf)))
    return gb.EGBASResult(query=jnp.asarray(samples[0]), theta=None, indicator=None, num_kept=None,
                          ber_loss=None, ber_steps=None, ber_converged=None, kept_error=None, tree=tree,
                          objective=None)


def test_calibrate_from_min_and_max_rejected_distance():
    samples = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]], np.float32)  # z_avg = (1, 1)
    rejected = np.array([[1.0, 4.0], [1.0, -1.0], [6.0, 1.0]], np.float32)            # distances 3, 2, 5
    cal, info = gb.baselines.calibrate(fake_result(samples, rejected), return_info=True)
    np.testing.assert_allclose(info.z_avg, [1.0, 1.0])
    assert (info.min_dist, info.max_dist, info.fallback) == (2.0, 5.0, False)
    assert cal.eps_l2 == pytest.approx(3.5)
    # 2-D: pi r^2 = (2a)^2.
    assert cal.eps_linf == pytest.approx(3.5 * math.sqrt(math.pi) / 2)
    eps_l2, eps_linf = cal  # unpacks as a pair


def test_calibrate_uses_every_rejection_not_only_the_stored_ones():
    samples = np.array([[0.0, 0.0], [2.0, 0.0]], np.float32)  # z_avg = (1, 0)
    rejected = np.array([[1.0, 1.0], [1.0, 3.0], [1.0, 100.0]], np.float32)
    cal = gb.baselines.calibrate(fake_result(samples, rejected, reject_capacity=2))
    assert cal.eps_l2 == pytest.approx(50.5)


def test_calibrate_fallback_when_nothing_rejected():
    samples = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]], np.float32)
    cal, info = gb.baselines.calibrate(fake_result(samples, np.zeros((0, 2))), return_info=True)
    z_avg = samples.mean(0)
    assert info.fallback and cal.eps_l2 == pytest.approx(np.linalg.norm(samples - z_avg, axis=1).max())


@pytest.mark.parametrize("dim", [1, 2, 3, 4, 7])
def test_equal_volume_cube_in_low_dimension(dim):
    r = 0.7
    ball = math.pi ** (dim / 2) / math.gamma(dim / 2 + 1) * r ** dim  # direct formula
    a = linf_half_side(r, dim)
    assert (2 * a) ** dim == pytest.approx(ball, rel=1e-12)
    if dim == 1:
        assert a == pytest.approx(r)


def test_log_formula_is_stable_in_high_dimension():
    a = linf_half_side(3.0, 512)
    assert np.isfinite(a) and 0 < a < 3.0  # the cube is much smaller than the ball's radius


@pytest.mark.parametrize("dim", [2, 10])
def test_samplers_stay_inside_and_are_uniform(dim):
    z0 = np.arange(dim, dtype=np.float32)
    n = 4000
    zs = np.asarray(gb.baselines.sample_l2_ball(z0, 0.5, n, key=jax.random.key(0)))
    r = np.linalg.norm(zs - z0, axis=1)
    assert zs.shape == (n, dim) and r.max() <= 0.5 * (1 + 1e-6)
    # Uniform in the ball: P(r < eps/2) = 2^-dim.
    assert np.mean(r < 0.25) == pytest.approx(0.5 ** dim, abs=0.03)
    zc = np.asarray(gb.baselines.sample_linf_ball(z0, 0.5, n, key=jax.random.key(1)))
    off = np.abs(zc - z0)
    assert off.max() <= 0.5 and np.mean(off < 0.25) == pytest.approx(0.5, abs=0.03)


def test_sampler_validation():
    with pytest.raises(ValueError):
        gb.baselines.sample_l2_ball(np.zeros((2, 2)), 1.0, 3, key=jax.random.key(0))
    with pytest.raises(ValueError):
        gb.baselines.sample_linf_ball(np.zeros(2), -1.0, 3, key=jax.random.key(0))
    with pytest.raises(ValueError):
        gb.baselines.sample_linf_ball(np.zeros(2), 1.0, 2.5, key=jax.random.key(0))


@pytest.mark.slow
def test_calibration_uses_every_rejection_even_past_the_buffer(small_gen, fast_cfg):
    """With a rejected buffer of 2, GB-RRT replays its iterations at the end to find
    the distance range over all rejections: the same eps_L2 as a buffer that holds
    them all, and the same tree (the replay adds no randomness)."""
    from conftest import z_query
    z0 = z_query(11, small_gen.latent_dim)
    cfg = fast_cfg.replace(ber_lambda=1e-2, step_size=0.5, interval=2.0, max_iterations=300)
    small = gb.egbas(small_gen, z0, 1, cfg.replace(reject_capacity=2), key=jax.random.key(4))
    big = gb.egbas(small_gen, z0, 1, cfg.replace(reject_capacity=4096), key=jax.random.key(4))
    assert bool(small.tree.rejected_overflow) and not bool(big.tree.rejected_overflow)
    assert int(big.tree.num_rejected) > 2
    np.testing.assert_array_equal(np.asarray(small.tree.samples), np.asarray(big.tree.samples))
    rej = big.tree.stored_rejected().astype(np.float64)
    mean = big.tree.accepted().astype(np.float64).mean(axis=0)
    d = np.linalg.norm(rej - mean, axis=1)
    for res in (small, big):
        cal, info = gb.baselines.calibrate(res, return_info=True)
        np.testing.assert_allclose([info.min_dist, info.max_dist], [d.min(), d.max()], rtol=1e-5)
        assert cal.eps_l2 == pytest.approx(0.5 * (d.min() + d.max()), rel=1e-5)
