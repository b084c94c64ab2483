"""The kept-boundary path against the single membership function."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gbas_jax as gb
from gbas_jax.core import kept

pytestmark = pytest.mark.fast


@pytest.fixture(autouse=True)
def float32_matmuls():
    """MARGIN_RTOL is a float32 statement; accelerators default to TF32 matmuls."""
    with jax.default_matmul_precision("highest"):
        yield


MODELS = {
    "dcgan28": lambda: gb.models.dcgan(key=jax.random.key(0), latent_dim=8, image_size=28, widths=(16, 8, 8, 8)),
    "dcgan64": lambda: gb.models.dcgan(key=jax.random.key(0), latent_dim=6, image_size=64, channels=3,
                                       widths=(16, 8, 8, 4)),
    "pggan-zoo": lambda: gb.models.pggan(key=jax.random.key(0), latent_dim=8, resolution=16, max_width=8,
                                         bias_scale=0.1),
    "pggan-dissect": lambda: gb.models.pggan(key=jax.random.key(0), latent_dim=8, resolution=16, max_width=8,
                                             layout="dissect", bias_scale=0.1),
}
_CACHE = {}


def _gen(name):
    if name not in _CACHE:
        _CACHE[name] = MODELS[name]()
    return _CACHE[name]


def _random_indicator(gen, layer, key, frac):
    a0 = gen.boundary(jax.random.normal(key, (1, gen.latent_dim)), layer)[0]
    keep = jax.random.uniform(jax.random.fold_in(key, 1), a0.shape) < frac
    return jnp.where(keep, jnp.sign(a0), 0).astype(jnp.int8)


@functools.partial(jax.jit, static_argnames=("layer", "sizes"))
def _margins(gen, z, layer, V, sizes):
    """The full layer's margin, the kept path's, and the pre-activations' scale (one
    program per layer: eager, every small op would compile on its own)."""
    region = kept.build(gen, layer, V, sizes)
    return (gb.region_margin(gen, z, layer, V), kept.kept_margin(gen, z, layer, region),
            jnp.abs(gen.boundary(z, layer)).max())


@pytest.mark.parametrize("name, layers", [("dcgan28", (2,))] + [pytest.param(n, None, marks=pytest.mark.slow)
                                                                 for n in sorted(MODELS)])
def test_kept_margin_agrees_with_full_layer(name, layers):
    gen = _gen(name)
    z = jax.random.normal(jax.random.key(2), (64, gen.latent_dim))
    for layer in layers or range(1, gen.num_layers + 1):
        V = _random_indicator(gen, layer, jax.random.key(layer), 0.2)
        full, fast, scale = map(np.asarray, _margins(gen, z, layer, V, kept.plan(gen, layer, V, "kept")))
        scale = float(scale)
        np.testing.assert_allclose(fast, full, rtol=0, atol=kept.MARGIN_RTOL * scale, err_msg=f"layer {layer}")
        # Membership agrees away from the boundary (the documented tolerance).
        clear = np.abs(full) > kept.MARGIN_RTOL * scale
        assert clear.sum() > 32
        np.testing.assert_array_equal((fast >= 0)[clear], (full >= 0)[clear])


@settings(max_examples=10)
@given(seed=st.integers(0, 2 ** 16), frac=st.sampled_from([0.0, 0.01, 0.1, 0.5, 1.0]),
       layer=st.integers(1, 4))
@pytest.mark.slow
def test_property_any_kept_set(seed, frac, layer):
    gen = _gen("dcgan28")
    V = _random_indicator(gen, layer, jax.random.key(seed), frac)
    sizes = kept.plan(gen, layer, V, "kept")
    z = jax.random.normal(jax.random.key(seed + 1), (16, gen.latent_dim))
    full = gb.region_margin(gen, z, layer, V)
    if sizes is None:               # nothing kept: the region is the whole space, no kept path
        assert int(jnp.sum(V != 0)) == 0 and bool(jnp.all(jnp.isinf(full)))
        return
    fast = kept.kept_margin(gen, z, layer, kept.build(gen, layer, V, sizes))
    scale = float(jnp.abs(gen.boundary(z, layer)).max())
    np.testing.assert_allclose(fast, full, rtol=0, atol=kept.MARGIN_RTOL * scale)


@pytest.mark.slow
@settings(max_examples=10)
@given(seed=st.integers(0, 2 ** 16), layer=st.integers(1, 4), eps=st.sampled_from([1e-4, -1e-4, 0.0]))
def test_property_candidates_next_to_a_kept_boundary(seed, layer, eps):
    """Points placed within 1e-4 of a kept boundary (on a line from a point of the
    region across the boundary): the kept path and the full layer decide alike
    wherever the slack clears the documented tolerance, and by that tolerance
    at most elsewhere."""
    gen = _gen("dcgan28")
    z0 = jax.random.normal(jax.random.key(seed), (gen.latent_dim,))
    V = _random_indicator(gen, layer, jax.random.key(seed + 2), 0.1)
    V = jnp.where(V != 0, jnp.sign(gen.boundary(z0[None], layer)[0]), 0).astype(jnp.int8)
    sizes = kept.plan(gen, layer, V, "kept")
    if sizes is None:
        return
    # Walk from z0 towards random points; bisect the first crossing of the region's edge.
    u = z0 + jax.random.normal(jax.random.key(seed + 3), (8, gen.latent_dim))
    lo, hi = jnp.zeros(8), jnp.ones(8)
    inside = lambda t: gb.region_margin(gen, z0 + t[:, None] * (u - z0), layer, V) >= 0  # noqa: E731
    if bool(jnp.all(inside(hi))):
        return
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        ok = inside(mid)
        lo, hi = jnp.where(ok, mid, lo), jnp.where(ok, hi, mid)
    t = lo + eps * jnp.linalg.norm(u - z0, axis=1) ** -1
    z = z0 + t[:, None] * (u - z0)
    full = np.asarray(gb.region_margin(gen, z, layer, V))
    fast = np.asarray(kept.kept_margin(gen, z, layer, kept.build(gen, layer, V, sizes)))
    scale = float(jnp.abs(gen.boundary(z, layer)).max())
    np.testing.assert_allclose(fast, full, rtol=0, atol=kept.MARGIN_RTOL * scale)
    clear = np.abs(full) > kept.MARGIN_RTOL * scale
    np.testing.assert_array_equal((fast >= 0)[clear], (full >= 0)[clear])


def test_tap_table_counts():
    # transposed conv 4x4 / stride 2 / padding 1: 2x2 sources per output inside
    pos, _ = kept.tap_table(kept.ConvGeometry(4, 2, 2, 1, (7, 7), (14, 14)))
    assert pos.shape == (196, 4)
    # 3x3 conv after x2 upsampling: 9 taps read only 4 distinct sources
    pos, taps = kept.tap_table(kept.ConvGeometry(3, 1, 1, 2, (4, 4), (8, 8)))
    assert pos.shape[1] == 4 and (taps >= 0).sum(axis=(1, 2)).max() == 9


def test_plan():
    gen = _gen("dcgan28")
    d1, d2 = gen.layer_size(1), gen.layer_size(2)
    some = np.zeros(d1, np.int8)
    some[:500] = 1
    assert kept.plan(gen, 1, some) == ("dense", 512)               # dense layer 1: always kept
    assert kept.plan(gen, 2, np.ones(d2, np.int8)) is None          # every unit kept: full layer
    few = np.zeros(d2, np.int8)
    few[[0, 1, 8, 100]] = 1                                          # positions 0 and 12 (8 channels each)
    assert kept.plan(gen, 2, few) == ("conv", 8, 2)
    assert kept.plan(gen, 2, np.stack([few, np.roll(few, 8)])) == ("conv", 8, 2)   # a batch: the largest row
    assert kept.plan(gen, 2, np.ones(d2, np.int8), "kept") is not None
    assert kept.plan(gen, 2, few, "full") is None
    assert kept.plan(gen, 2, np.zeros(d2, np.int8)) is None
    with pytest.raises(ValueError, match="region path"):
        kept.plan(gen, 2, few, "fast")
    with pytest.raises(ValueError, match="region_path"):
        gb.EGBASConfig(region_path="fast")


def test_the_rule_counts_the_taps_the_compiled_layer_computes():
    transposed = kept.ConvGeometry(4, 2, 2, 1, (7, 7), (14, 14))     # 4x4, stride 2, padding 1
    upsampled = kept.ConvGeometry(3, 1, 1, 2, (4, 4), (8, 8))        # x2 upsampling, 3x3
    plain = kept.ConvGeometry(3, 1, 1, 1, (8, 8), (8, 8))
    odd = kept.ConvGeometry(5, 2, 2, 1, (7, 7), (15, 15))            # 5x5 stride 2: no sub-pixel form
    assert [g.computed_taps("cpu") for g in (transposed, upsampled, plain, odd)] == [4, 4, 9, 25]
    assert [g.computed_taps("gpu") for g in (transposed, upsampled, plain, odd)] == [16, 9, 9, 25]
    # Each platform's rule decides (the CPU's threshold falls as more channels share a
    # gather and rises with the positions, each its own small product).
    assert kept.min_mac_ratio("cpu", 1) > kept.min_mac_ratio("cpu", 64) and kept.min_mac_ratio("gpu", 1) == 16
    assert kept.min_mac_ratio("cpu", 16, 256) > kept.min_mac_ratio("cpu", 16, 8)
    gen = _gen("dcgan28")
    lm = gen.linear_map(2)
    cout = gen.layer_shape(2)[-1]
    for n_pos in (1, 2, 4, 8, 16, 32, 64, 128):
        V = np.zeros(gen.layer_size(2), np.int8)
        V[np.arange(n_pos) * cout] = 1                                # one channel at n_pos positions
        sizes = kept.plan(gen, 2, V, "kept")
        for platform in ("cpu", "gpu"):
            ratio = kept.mac_ratio(gen, 2, lm.geometry, sizes[1], sizes[2], platform)
            want = sizes if ratio > kept.min_mac_ratio(platform, sizes[2], sizes[1]) else None
            assert kept.plan(gen, 2, V, platform=platform) == want
    assert kept.mac_ratio(gen, 2, lm.geometry, 8, 1, "gpu") == 4 * kept.mac_ratio(gen, 2, lm.geometry, 8, 1, "cpu")


def test_models_without_a_linear_map_use_the_full_layer():
    from test_custom_generator import make
    gen, _ = make()
    assert kept.plan(gen, 1, np.ones(gen.layer_size(1), np.int8), "kept") is None


@pytest.mark.parametrize("name,layer", [pytest.param("dcgan28", 1, marks=pytest.mark.slow), ("dcgan28", 2),
                                        pytest.param("pggan-dissect", 3, marks=pytest.mark.slow)])
def test_gb_rrt_kept_path_keeps_the_guarantees_and_the_tree(name, layer):
    gen = _gen(name)
    z0 = jax.random.normal(jax.random.key(5), (gen.latent_dim,))
    V = _random_indicator(gen, layer, jax.random.key(6), 0.05)
    V = jnp.where(V != 0, jnp.sign(gen.boundary(z0[None], layer)[0]), 0).astype(jnp.int8)
    cfg = gb.EGBASConfig(capacity=48, proposals=8, max_iterations=300, step_size=0.2, interval=1.0)
    fast = gb.gb_rrt(gen, z0, layer, V, dataclasses.replace(cfg, region_path="kept"), key=jax.random.key(7))
    full = gb.gb_rrt(gen, z0, layer, V, dataclasses.replace(cfg, region_path="full"), key=jax.random.key(7))
    n = int(fast.num_samples)
    assert n > 8 and int(fast.num_rejected) > 0
    assert bool(gb.in_region(gen, fast.samples[:n], layer, V, margin=1e-4).all())
    # Same key: the same tree unless a float difference flips a decision; with these
    # seeds none does on CPU.
    assert n == int(full.num_samples) and int(fast.num_rejected) == int(full.num_rejected)
    np.testing.assert_allclose(fast.samples, full.samples, atol=1e-5)


def test_egbas_kept_path_compiles_once_per_size(small_gen, fast_cfg):
    cfg = dataclasses.replace(fast_cfg, region_path="kept")
    z0 = jax.random.normal(jax.random.key(0), (small_gen.latent_dim,))
    gb.egbas(small_gen, z0, 1, cfg, key=jax.random.key(1))
    before = dict(gb.TRACE_COUNTS)
    gb.egbas(small_gen, z0, 1, cfg, key=jax.random.key(1))
    assert dict(gb.TRACE_COUNTS) == before
