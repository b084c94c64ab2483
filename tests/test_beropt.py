import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gbas_jax as gb
from conftest import z_query

BASE = gb.EGBASConfig(ber_steps=200, ber_window=10, ber_samples=4, ber_tol=0.0)


def single_drop_effects(gen, z0, layer):
    """MSE of the output when unit i alone is dropped, for every unit i."""
    h0 = gen.features(z0[None], layer)[0]
    x0 = gen.generate(z0[None])
    d = h0.size
    masks = (1.0 - jnp.eye(d)).reshape((d,) + h0.shape)
    e = jnp.mean((gen.decode(h0[None] * masks, layer) - x0) ** 2, axis=(1, 2, 3))
    return np.asarray(e), np.asarray(h0).ravel()


@pytest.mark.parametrize("relaxation", ["concrete", "straight_through"])
def test_loss_decreases_and_output_is_faithful(small_gen, relaxation):
    z0 = z_query(0, small_gen.latent_dim)
    cfg = BASE.replace(relaxation=relaxation, ber_lambda=1e-2)
    short = gb.ber_opt(small_gen, z0, 2, cfg.replace(ber_steps=10), key=jax.random.key(0), full_output=True)
    long = gb.ber_opt(small_gen, z0, 2, cfg, key=jax.random.key(0), full_output=True)
    assert float(long.loss) < 0.7 * float(short.loss)
    assert int(long.steps) == cfg.ber_steps
    # Keeping only the selected units reproduces G(z0) far better than dropping all.
    h0 = small_gen.features(z0[None], 2)
    x0 = small_gen.generate(z0[None])
    err_none = float(jnp.mean((small_gen.decode(0 * h0, 2) - x0) ** 2))
    assert float(long.kept_error) < 0.5 * err_none
    theta = np.asarray(long.theta)
    assert theta.shape == (small_gen.layer_size(2),) and np.all((theta >= 0) & (theta <= 1))


@pytest.mark.parametrize("layer", [1, 3])
def test_kept_count_falls_as_lambda_grows(small_gen, layer):
    z0 = z_query(1, small_gen.latent_dim)
    kept = []
    for lam in (0.0, 1e-3, 1e-2, 1e-1):
        theta = gb.ber_opt(small_gen, z0, layer, BASE.replace(ber_lambda=lam), key=jax.random.key(2))
        kept.append(int(np.sum(np.asarray(theta) > 0.5)))
    assert all(a > b for a, b in zip(kept, kept[1:])), kept


def test_lambda_zero_keeps_every_unit_that_matters(small_gen):
    z0 = z_query(2, small_gen.latent_dim)
    layer = 2
    theta = np.asarray(gb.ber_opt(small_gen, z0, layer, BASE.replace(ber_lambda=0.0), key=jax.random.key(3)))
    effects, h0 = single_drop_effects(small_gen, z0, layer)
    active = h0 > 0
    # Inactive ReLU units get exactly zero gradient: theta stays at its initial value.
    np.testing.assert_array_equal(theta[~active], np.float32(BASE.ber_init))
    # Every active unit whose removal visibly changes the output stays above p.
    matters = active & (effects > 0.25 * np.median(effects[active]))
    assert matters.sum() > 0.5 * active.sum()
    assert np.all(theta[matters] > 0.5), np.sort(effects[matters & (theta <= 0.5)])
    # ... so the indicator marks them with the query's sign (+1 for ReLU-active units).
    V = np.asarray(gb.halfspace_indicator(small_gen, z0, layer, theta, 0.5))
    assert np.all(V[matters] == 1)


def test_straight_through_lambda_zero(small_gen):
    # The straight-through gradient is biased (it differentiates the loss at the
    # sampled hard mask), so a few units whose contributions cancel others' can
    # drift below p even at lambda = 0; the bulk of active units stays kept.
    z0 = z_query(2, small_gen.latent_dim)
    cfg = BASE.replace(ber_lambda=0.0, relaxation="straight_through")
    theta = np.asarray(gb.ber_opt(small_gen, z0, 2, cfg, key=jax.random.key(3)))
    effects, h0 = single_drop_effects(small_gen, z0, 2)
    active = h0 > 0
    np.testing.assert_array_equal(theta[~active], np.float32(BASE.ber_init))
    assert np.mean(theta[active] > 0.5) > 0.85
    dropped = active & (theta <= 0.5)
    assert np.mean(effects[dropped]) < 0.25 * np.mean(effects[active])


def test_relu_indicator_values_with_positive_lambda(small_gen):
    z0 = z_query(3, small_gen.latent_dim)
    theta = gb.ber_opt(small_gen, z0, 1, BASE.replace(ber_lambda=1e-2), key=jax.random.key(4))
    V = np.asarray(gb.halfspace_indicator(small_gen, z0, 1, theta, 0.5))
    assert V.dtype == np.int8
    assert set(np.unique(V)) <= {0, 1} and (V == 1).sum() > 0


def test_early_stop_on_converged_problem(small_gen):
    # lambda = 0.1 drives every theta towards 0; the loss then flattens to the
    # error of the empty mask (~250 steps here).
    z0 = z_query(4, small_gen.latent_dim)
    cfg = BASE.replace(ber_lambda=0.1, ber_tol=1e-3, ber_steps=2000, relaxation="straight_through")
    res = gb.ber_opt(small_gen, z0, 1, cfg, key=jax.random.key(5), full_output=True)
    assert bool(res.converged)
    assert 2 * cfg.ber_window <= int(res.steps) < cfg.ber_steps


def test_cap_holds_on_non_converging_problem(small_gen):
    z0 = z_query(5, small_gen.latent_dim)
    # Concrete-mask noise keeps the loss moving by more than 1e-9 relative.
    cfg = BASE.replace(ber_lambda=1e-2, ber_tol=1e-9, ber_steps=37)
    res = gb.ber_opt(small_gen, z0, 2, cfg, key=jax.random.key(6), full_output=True)
    assert int(res.steps) == 37 and not bool(res.converged)
    # ber_tol = 0 means exactly ber_steps, even when the loss is flat.
    flat = BASE.replace(ber_lambda=10.0, ber_tol=0.0, ber_steps=150, relaxation="straight_through")
    res = gb.ber_opt(small_gen, z0, 1, flat, key=jax.random.key(6), full_output=True)
    assert int(res.steps) == 150 and not bool(res.converged)


def test_ber_opt_validates_before_tracing(small_gen):
    z0 = z_query(0, small_gen.latent_dim)
    with pytest.raises(ValueError, match="layer"):
        gb.ber_opt(small_gen, z0, 0, BASE, key=jax.random.key(0))
    with pytest.raises(ValueError, match="layer"):
        gb.ber_opt(small_gen, z0, small_gen.num_layers + 1, BASE, key=jax.random.key(0))
    with pytest.raises(ValueError, match="shape"):
        gb.ber_opt(small_gen, z0[:3], 1, BASE, key=jax.random.key(0))
    with pytest.raises(ValueError, match="finite"):
        gb.ber_opt(small_gen, np.full_like(z0, np.nan), 1, BASE, key=jax.random.key(0))
    with pytest.raises(ValueError, match="EGBASConfig"):
        gb.ber_opt(small_gen, z0, 1, {"ber_steps": 3}, key=jax.random.key(0))
