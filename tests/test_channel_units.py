"""Channel units (``EGBASConfig(units="channel")``, beyond the paper): BerOpt learns
one keep-probability per channel; the indicator keeps whole channels, inactive
ReLU units included (V = -1); the region is exact (every sample inside; a
candidate that flips one unit of a kept channel outside); the relaxed loss and
the hard objective against NumPy."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gbas_jax as gb
from gbas_jax.cli import main
from gbas_jax.core import beropt

from conftest import CLI_FAST

pytestmark = pytest.mark.fast

CFG = gb.EGBASConfig(units="channel", ber_lambda=0.3, ber_steps=600, ber_window=50, capacity=48, proposals=16,
                     step_size=0.05)


@pytest.fixture(scope="module")
def run():
    gen = gb.load_pretrained("dcgan-mnist")
    z0 = gb.query_latents(gen.latent_dim, 3)
    res = gb.egbas(gen, z0, 2, CFG, key=jax.random.key(0))
    return gen, z0, res


def test_indicator_keeps_whole_channels(run):
    gen, z0, res = run
    H, W, C = gen.layer_shape(2)
    assert res.theta.shape == (C,)
    V = np.asarray(res.indicator).reshape(H, W, C)
    kept = np.asarray(res.theta) > CFG.threshold
    assert kept.any() and not kept.all()
    a0 = np.asarray(gen.boundary(jnp.asarray(z0)[None], 2)[0]).reshape(H, W, C)
    np.testing.assert_array_equal(V[..., kept], np.sign(a0[..., kept]).astype(np.int8))
    assert not V[..., ~kept].any()
    assert (V == -1).any()                 # a kept channel's inactive units must stay inactive
    assert int(res.num_kept) == int(np.count_nonzero(V))
    np.testing.assert_array_equal(np.asarray(gb.halfspace_indicator(gen, z0, 2, res.theta)), V.reshape(-1))


def test_region_is_exact(run):
    gen, z0, res = run
    s = res.tree.accepted()
    assert len(s) > 1 and bool(np.all(gb.in_region(gen, s, 2, res.indicator)))
    V = np.asarray(res.indicator)
    # the kept unit with the smallest |a|: move z0 along its gradient until that unit
    # alone changes sign; the point is outside the region
    a0 = np.asarray(gen.boundary(jnp.asarray(z0)[None], 2)[0])
    idx = np.flatnonzero(V)
    i = int(idx[np.argmin(np.abs(a0[idx]))])
    unit = lambda z: gen.boundary(z[None], 2)[0, i]
    z = jnp.asarray(z0)
    for _ in range(50):
        v, g = jax.value_and_grad(unit)(z)
        if np.sign(float(v)) != V[i]:
            break
        z = z - 1.5 * v * g / jnp.sum(g * g)
    assert np.sign(float(unit(z))) == -V[i]
    assert not bool(gb.in_region(gen, z[None], 2, res.indicator)[0])


def test_loss_and_hard_objective_against_numpy(run):
    gen, z0, _ = run
    H, W, C = gen.layer_shape(2)
    h0 = gen.features(jnp.asarray(z0)[None], 2)[0]
    x0 = np.asarray(gen.decode(h0[None], 2)[0])
    keep = np.random.default_rng(0).random(C) > 0.5
    j, err = beropt.hard_objective(gen, h0, jnp.asarray(x0), 2, jnp.asarray(keep), CFG)
    masked = np.asarray(h0) * keep[None, None, :]
    ref_err = float(np.mean((np.asarray(gen.decode(jnp.asarray(masked)[None], 2)[0]) - x0) ** 2))
    assert float(err) == pytest.approx(ref_err, rel=1e-5, abs=1e-9)
    assert float(j) == pytest.approx(ref_err + CFG.ber_lambda * keep.mean(), rel=1e-5)
    m = beropt.unit_masks(jnp.asarray(keep, jnp.float32)[None], (H, W, C), "channel")
    assert m.shape == (1, 1, 1, C)


def test_sample_and_reproduce_in_channel_mode(tmp_path):
    out = tmp_path / "s"
    assert main(["sample", "--layer", "2", "--units", "channel", "--ber-lambda", "0.3", "--step-size", "0.05", "--report", "--out", str(out), *CLI_FAST]) == 0
    rec = json.loads((out / "record.json").read_text())
    theta, V = np.load(out / "theta.npy"), np.load(out / "indicator.npy")
    assert rec["config"]["units"] == "channel" and theta.shape == (rec["layer_shape"][-1],)
    assert V.shape == (int(np.prod(rec["layer_shape"])),) and (out / "index.html").is_file()
    kept_channels = int(np.sum(theta > 0.5))
    assert sum(1 for k in rec["kept_per_channel"] if k) <= kept_channels
    gen = gb.load_pretrained("dcgan-mnist")
    assert bool(np.all(gb.in_region(gen, jnp.asarray(np.load(out / "egbas_samples.npy")), 2, jnp.asarray(V))))


@pytest.mark.slow
def test_reproduce_quick_in_channel_mode_with_report(tmp_path):
    out = tmp_path / "r"
    rc = main(["reproduce", "--quick", "--units", "channel", "--ber-lambda", "0.3", "--step-size", "0.05",
               "--report", "--out", str(out), "--no-progress"])
    assert rc in (0, 3)          # 3: a health problem of the tiny run, reported, not a crash
    res = json.loads((out / "results.json").read_text())
    assert res["config"]["units"] == "channel"
    for layer in res["layers"]:
        theta = np.load(out / f"layer{layer}" / "theta.npy")
        V = np.load(out / f"layer{layer}" / "indicator.npy")
        shape = res["layer_shapes"][str(layer)]
        assert theta.shape == (res["queries"], shape[-1]) and V.shape == (res["queries"], int(np.prod(shape)))
        kept = theta[0] > 0.5                     # whole channels: every position of a kept channel is nonzero
        Vq = V[0].reshape(shape)
        assert not Vq[..., ~kept].any()
        assert np.count_nonzero(Vq[..., kept]) >= 0.99 * Vq[..., kept].size
    assert (out / "index.html").is_file() and (out / f"layer{res['layers'][0]}" / "boundaries.png").is_file()
