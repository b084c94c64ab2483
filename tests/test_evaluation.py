"""gbas_jax.apps.evaluation: the one per-query evaluation that sample, reproduce and
the recommendation sweep share, against its pieces run by hand."""

import jax
import numpy as np
import pytest

import gbas_jax as gb
from gbas_jax.apps.evaluation import METHODS, evaluate_query, query_keys, sample_set_metrics

from conftest import z_query

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module")
def evaluated(small_gen, small_disc, fast_cfg):
    z0 = z_query(0, small_gen.latent_dim)
    keys = query_keys(jax.random.key(3))
    return z0, keys, evaluate_query(small_gen, small_disc, 2, z0, fast_cfg, keys=keys)


def test_evaluation_is_its_pieces(small_gen, small_disc, fast_cfg, evaluated):
    z0, (k_run, k_l2, k_linf), ev = evaluated
    res = gb.egbas(small_gen, z0, 2, fast_cfg, key=k_run)
    np.testing.assert_array_equal(res.tree.accepted(), ev.latents["E-GBAS"])
    eps_l2, eps_linf = gb.baselines.calibrate(res)
    assert (eps_l2, eps_linf) == (ev.calibration.eps_l2, ev.calibration.eps_linf)
    n = len(ev.latents["E-GBAS"])
    np.testing.assert_array_equal(gb.baselines.sample_l2_ball(z0, eps_l2, n, key=k_l2), ev.latents["eps-L2"])
    np.testing.assert_array_equal(gb.baselines.sample_linf_ball(z0, eps_linf, n, key=k_linf), ev.latents["eps-Linf"])
    # the metrics against an eager computation of each
    for name in METHODS:
        zs = ev.latents[name]
        m = ev.metrics[name]
        images = np.asarray(small_gen.generate(zs))
        assert m["count"] == n
        assert m["image_variation"] == pytest.approx(images.std(axis=0).mean(), rel=1e-4)
        assert m["nrs_full"] == pytest.approx(float(gb.nrs_fraction(small_gen, zs, 2, z0)))
        assert m["nrs_relaxed"] == pytest.approx(float(np.mean(gb.in_region(small_gen, zs, 2, res.indicator))))
        want = gb.metrics.discriminator_similarity(small_disc, images, small_gen.generate(z0[None]))
        np.testing.assert_allclose(m["discriminator_similarity"], want, rtol=1e-4)
        np.testing.assert_allclose(ev.images[name], images, atol=1e-6)
    assert ev.metrics["E-GBAS"]["nrs_relaxed"] == 1.0
    assert set(ev.timings) == {"egbas_s", "baselines_s", "metrics_s"}
    assert [p.code for p in ev.problems] == [p.code for p in gb.apps.health.egbas_problems(res, ev.calibration_info)]


def test_set_metrics_without_a_discriminator(small_gen, evaluated):
    z0, _, ev = evaluated
    rec, images = sample_set_metrics(small_gen, None, 2, z0, ev.result.indicator, ev.latents["eps-L2"])
    assert "discriminator_similarity" not in rec and images.shape[0] == rec["count"]
    assert rec["image_variation"] == ev.metrics["eps-L2"]["image_variation"]
