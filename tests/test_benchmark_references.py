"""The PyTorch references of ``benchmarks/`` (torch_mirror, reference_torch,
batched_torch) against the JAX library, on a small random DCGAN (and PGGANs of
both layouts for the mirror and the region test): same weights, same region
test, and the GB-RRT / BerOpt guarantees of docs/design.md."""

import jax
import numpy as np
import pytest
import torch

import gbas_jax as gb

from torch_mirror import batched_torch, reference_torch
from torch_mirror import TorchDCGAN, check_mirror, from_jax

pytestmark = pytest.mark.slow

# 32x32: dense layer 1, transposed convs at layers 2-3, an extra 3x3 conv at layer 4.
ARCH = {"latent_dim": 8, "image_size": 32, "channels": 1, "widths": (32, 16, 8, 8)}
LAYER = 2
CFG = gb.EGBASConfig(ber_steps=40, ber_check=10, ber_window=10, ber_samples=4, ber_lambda=0.01, capacity=30,
                     proposals=8, max_iterations=60, step_size=0.3, interval=1.5, reject_capacity=64)
IMPLS = {"reference": reference_torch, "batched": batched_torch}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # Small tensors: intra-op threads only add synchronisation, and on a shared 2-core
    # machine a descheduled OpenMP worker stalls every op (seconds-long hiccups).
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def gen():
    return gb.models.dcgan(key=jax.random.key(0), **ARCH)


@pytest.fixture(scope="module")
def z0():
    return np.random.default_rng(3).standard_normal(ARCH["latent_dim"]).astype(np.float32)


@pytest.fixture(scope="module")
def indicator(gen, z0):
    with jax.default_matmul_precision("highest"):
        theta = gb.ber_opt(gen, z0, LAYER, CFG, key=jax.random.key(0))
        V = np.asarray(gb.halfspace_indicator(gen, z0, LAYER, theta, CFG.threshold))
    assert 0 < np.count_nonzero(V) < V.size
    return V


def _margin(gen, z0, layer):
    a0 = np.asarray(gen.boundary(z0[None], layer))[0]
    return 1e-5 * (1.0 + np.abs(a0).max())


@pytest.mark.parametrize("fold_bn,channels_last", [(False, False), (True, True), (False, True)])
def test_mirror_matches_jax(gen, fold_bn, channels_last):
    z = np.random.default_rng(0).standard_normal((6, ARCH["latent_dim"])).astype(np.float32)
    errs = check_mirror(gen, z, fold=fold_bn, channels_last=channels_last)
    assert set(errs) == {"generate"} | {f"{f}_{k}" for f in ("boundary", "features", "decode")
                                        for k in range(1, 5)}
    assert max(errs.values()) < 1e-4, errs
    # Layouts: features NCHW, boundary in the JAX order, images NHWC.
    net = TorchDCGAN.from_jax(gen, fold_bn=fold_bn, channels_last=channels_last)
    zt = torch.from_numpy(z)
    with torch.no_grad():
        assert tuple(net.features(zt, 2).shape) == (6, 16, 8, 8)
        assert tuple(net.boundary(zt, 2).shape) == (6, 8 * 8 * 16)
        assert tuple(net.generate(zt).shape) == (6, 32, 32, 1)
        v = np.arange(8 * 8 * 16)
        np.testing.assert_array_equal(net.to_jax_order(net.to_nchw_order(v, 2), 2), v)
        np.testing.assert_allclose(net.to_jax_order(net.pre_activation_nchw(zt, 2)[0].numpy(), 2),
                                   net.boundary(zt, 2)[0].numpy(), rtol=0, atol=0)


PGGAN_ARCH = {"latent_dim": 8, "resolution": 16, "channels": 3, "widths": (16, 12, 8), "bias_scale": 0.1}


@pytest.fixture(scope="module", params=["zoo", "dissect"])
def pggan(request):
    return gb.models.pggan(key=jax.random.key(1), layout=request.param, **PGGAN_ARCH)


@pytest.mark.parametrize("fold,channels_last", [(False, False), (True, True)])
def test_pggan_mirror_matches_jax(pggan, fold, channels_last):
    z = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    errs = check_mirror(pggan, z, fold=fold, channels_last=channels_last)
    assert set(errs) == {"generate"} | {f"{f}_{k}" for f in ("boundary", "features", "decode")
                                        for k in range(1, 7)}
    assert max(errs.values()) < 1e-5, errs
    net = from_jax(pggan, fold=fold, channels_last=channels_last)
    with torch.no_grad():
        zt = torch.from_numpy(z)
        assert tuple(net.features(zt, 3).shape) == (5, 12, 8, 8)   # layer 3: upsampled to 8x8
        assert tuple(net.generate(zt).shape) == (5, 16, 16, 3)


@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_pggan_region_test_matches_jax(pggan, impl):
    # layer 3: the upsampling 3x3 conv; a random half of its units kept.
    z0 = np.random.default_rng(4).standard_normal(8).astype(np.float32)
    a0 = np.asarray(pggan.boundary(z0[None], 3))[0]
    keep = np.random.default_rng(5).random(a0.shape) < 0.02
    V = np.where(keep, np.sign(a0), 0).astype(np.int8)
    z = z0 + 0.3 * np.random.default_rng(6).standard_normal((256, 8)).astype(np.float32)
    res = IMPLS[impl].check_same_region_test(pggan, 3, V, z, margin=1e-4 * (1 + np.abs(a0).max()))
    assert res["checked"] > 200 and res["mismatches"] == 0, res
    assert 0 < res["inside"] < res["checked"], res


@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_region_test_matches_jax(gen, z0, indicator, impl):
    z = z0 + 0.5 * np.random.default_rng(1).standard_normal((256, ARCH["latent_dim"])).astype(np.float32)
    margin = 10 * _margin(gen, z0, LAYER)
    res = IMPLS[impl].check_same_region_test(gen, LAYER, indicator, z, margin=margin)
    assert res["checked"] > 200 and res["mismatches"] == 0, res
    assert 0 < res["inside"] < res["checked"], res  # both answers occur
    if impl == "batched":  # also the NCHW path (indicator permuted instead of the activations)
        res2 = batched_torch.check_same_region_test(gen, LAYER, indicator, z, margin=margin,
                                                    fold_bn=False, channels_last=False)
        assert res2 == res


def _check_tree(gen, z0, V, cfg, out, per_iteration):
    n = out["num_samples"]
    s, parents = out["samples"], out["parents"]
    assert 1 < n <= cfg.capacity and out["accepted"] == n - 1
    assert s.shape == (cfg.capacity, ARCH["latent_dim"]) and parents.shape == (cfg.capacity,)
    np.testing.assert_array_equal(s[0], z0)
    assert parents[0] == -1 and np.all(parents[n:] == -1) and np.all(s[n:] == 0)
    idx = np.arange(1, n)
    assert np.all((parents[1:n] >= 0) & (parents[1:n] < idx))
    x = s[:n].astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(x[1:] - x[parents[1:n]], axis=1), cfg.step_size, rtol=1e-4)
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    d[np.diag_indices(n)] = np.inf
    assert d.min() >= cfg.step_size * (1 - reference_torch.SPACING_RTOL) * (1 - 1e-5), d.min()
    margin = _margin(gen, z0, LAYER)
    assert bool(np.all(gb.in_region(gen, s[:n], LAYER, V, margin=margin)))
    m = min(out["num_rejected"], cfg.reject_capacity)
    if m:
        assert np.all(np.asarray(gb.region_margin(gen, out["rejected"][:m], LAYER, V)) < margin)
    assert out["rejected_overflow"] == (out["num_rejected"] > cfg.reject_capacity)
    assert out["candidates"] == per_iteration * out["iterations"]
    assert out["stop_reason"] in ("capacity", "max_iterations")
    if out["stop_reason"] == "capacity":
        assert n == cfg.capacity


@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_gb_rrt_guarantees(gen, z0, indicator, impl):
    # Steps long enough (about the region's size here) that the region test rejects some.
    cfg = CFG.replace(step_size=1.0)
    rejected = 0
    for seed in (0, 1):
        out = IMPLS[impl].run(gen, z0, LAYER, cfg, seed, V=indicator)
        assert out["ber_s"] == 0.0 and out["rrt_s"] > 0 and out["theta"] is None
        assert out["num_kept"] == np.count_nonzero(indicator)
        _check_tree(gen, z0, indicator, cfg, out, per_iteration=cfg.proposals if impl == "batched" else 1)
        rejected += out["num_rejected"]
    assert rejected > 0  # the region test did reject something: the boundaries were exercised


def test_iteration_caps(gen):
    cfg = CFG.replace(capacity=1000, max_iterations=3)
    z0 = np.zeros(ARCH["latent_dim"], np.float32)
    V = np.zeros(gen.layer_size(1), np.int8)  # whole space
    b = batched_torch.run(gen, z0, 1, cfg, 0, V=V)
    assert b["iterations"] == 3 and b["candidates"] == 3 * cfg.proposals and b["stop_reason"] == "max_iterations"
    r = reference_torch.run(gen, z0, 1, cfg, 0, V=V)
    assert r["iterations"] == 3 * cfg.proposals == r["candidates"]  # same candidate budget
    r = reference_torch.run(gen, z0, 1, cfg, 0, V=V, max_iterations=5)
    assert r["iterations"] == 5 and r["stop_reason"] == "max_iterations"


def test_reference_beropt_behaves(gen, z0):
    net = TorchDCGAN.from_jax(gen)
    zt = torch.from_numpy(z0)
    with torch.no_grad():
        active = net.to_jax_order(net.features(zt[None], LAYER)[0].reshape(-1).numpy(), LAYER) > 0
    # lambda = 0: nothing rewards dropping, so (almost) every active unit is kept.
    cfg0 = CFG.replace(ber_lambda=0.0, relaxation="concrete", ber_tol=0.0)
    ber = reference_torch.ber_opt(net, zt, LAYER, cfg0, torch.Generator().manual_seed(0))
    assert ber["steps"] == cfg0.ber_steps and ber["theta"].shape == active.shape
    assert np.mean(ber["theta"][active] > cfg0.threshold) > 0.9
    # lambda > 0: inactive ReLU units get no reconstruction gradient and are dropped,
    # so the indicator takes values in {0, +1} (docs/design.md).
    cfg1 = CFG.replace(ber_lambda=0.5, relaxation="straight_through", ber_tol=0.0)
    ber = reference_torch.ber_opt(net, zt, LAYER, cfg1, torch.Generator().manual_seed(0))
    assert np.all(ber["theta"][~active] < cfg1.threshold)
    V = reference_torch.halfspace_indicator(net, zt, LAYER, ber["theta"], cfg1.threshold)
    assert set(np.unique(V)) <= {0, 1}
    # The batched BerOpt draws the same random stream (S masks at once instead of one
    # by one): it agrees with the reference up to float rounding.
    bat = batched_torch.ber_opt(net, zt, LAYER, cfg0, torch.Generator().manual_seed(0))
    ref = reference_torch.ber_opt(net, zt, LAYER, cfg0, torch.Generator().manual_seed(0))
    assert np.mean((bat["theta"] > 0.5) == (ref["theta"] > 0.5)) > 0.98
    assert abs(bat["loss"] - ref["loss"]) <= 1e-3 * abs(ref["loss"]) + 1e-7


@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_run_full_pipeline(gen, z0, impl):
    out = IMPLS[impl].run(gen, z0, LAYER, CFG, 0)
    assert out["theta"].shape == (gen.layer_size(LAYER),) and out["indicator"].dtype == np.int8
    assert out["ber_steps"] >= 2 * CFG.ber_window and out["ber_s"] > 0 and out["rrt_s"] > 0
    assert np.isfinite(out["ber_loss"]) and out["kept_error"] >= 0
    assert out["num_kept"] == np.count_nonzero(out["indicator"])
    expected = np.where(out["theta"] > CFG.threshold, np.sign(np.asarray(gen.boundary(z0[None], LAYER))[0]), 0)
    np.testing.assert_array_equal(out["indicator"], expected)
    _check_tree(gen, z0, out["indicator"], CFG, out,
                per_iteration=CFG.proposals if impl == "batched" else 1)


def test_library_beropt_in_pytorch_matches_the_library():
    """``batched_torch.ber_opt_library``: gbas-jax's BerOpt (Adam (0.5, 0.9), the held
    then decaying rate, checks of J, the stop rule, the best-J iterate) in PyTorch.
    Its random masks differ from JAX's, so the two agree as runs of one algorithm
    do: both converge, within a few hundred steps of each other, to J within 15 %
    (on the trained dcgan-mnist, three queries)."""
    from torch_mirror import from_jax
    gen = gb.load_pretrained("dcgan-mnist")
    cfg = gb.EGBASConfig()
    net = from_jax(gen, fold=True, channels_last=True)
    for q in range(3):
        z0 = gb.query_latents(gen.latent_dim, q)
        r = batched_torch.ber_opt_library(net, torch.tensor(z0), 2, cfg, torch.Generator().manual_seed(q))
        j = gb.ber_opt(gen, z0, 2, cfg, key=jax.random.key(q), full_output=True)
        assert r["converged"] and bool(j.converged)
        assert abs(r["steps"] - int(j.steps)) <= 300 and r["steps"] < cfg.ber_steps
        assert abs(r["objective"] - float(j.objective)) <= 0.15 * float(j.objective)
        assert r["theta"].shape == (gen.layer_size(2),)
    out = batched_torch.run(gen, gb.query_latents(gen.latent_dim, 0), 2,
                            cfg.replace(capacity=20, max_iterations=20), 0, net=net, beropt="library")
    assert out["beropt"] == "library" and out["ber_converged"] and out["num_kept"] > 0
    with pytest.raises(ValueError, match="beropt must be one of"):
        batched_torch.run(gen, gb.query_latents(gen.latent_dim, 0), 2, cfg, 0, net=net, beropt="fast")
