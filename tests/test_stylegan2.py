"""gbas_jax.models.stylegan2 against the PyTorch mirror (torch_mirror.stylegan2, the
NVlabs key names, read by converters.stylegan2): images and every layer's
pre-activation; the layer state (decode(features) == generate in Z and W); the
views (label as a leaf, truncation, frozen styles); region exactness."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import gbas_jax as gb
from converters import stylegan2 as convert
from gbas_jax.models import stylegan2 as sg
from torch_mirror.stylegan2 import TorchStyleGAN2, to_nhwc

pytestmark = pytest.mark.fast

#: The mirror's configurations: (resolution, c_dim, mapping depth, architecture, conv_clamp).
CONFIGS = {
    "skip-c0-m2": (32, 0, 2, "skip", None),
    "resnet-c10-m8": (32, 10, 8, "resnet", 0.5),
    "orig-c0-m2": (32, 0, 2, "orig", None),
    "skip-16px": (16, 0, 2, "skip", None),          # E-GBAS on it compiles faster
    "skip-256px": (256, 0, 8, "skip", 256.0),       # the slow tier: reduced widths, 13 layers
    "resnet-256px": (256, 3, 2, "resnet", None),
}
SLOW = {"skip-256px", "resnet-256px"}
_CACHE = {}


def mirror_and_gen(name):
    """The mirror with random weights and the gbas-jax model converted from its state dict."""
    if name not in _CACHE:
        res, c_dim, depth, arch, clamp = CONFIGS[name]
        torch.manual_seed(0)
        net = TorchStyleGAN2(z_dim=16, c_dim=c_dim, w_dim=16, img_resolution=res, mapping_layers=depth,
                             channel_base=256 if res <= 32 else 1024, channel_max=16, architecture=arch,
                             conv_clamp=clamp).randomise(1)
        spec, gen = convert.generator(net.state_dict_numpy(), conv_clamp=clamp, w_statistics_samples=500)
        assert spec["architecture"] == arch and spec["c_dim"] == c_dim and spec["mapping_layers"] == depth
        _CACHE[name] = (net, gen)
    return _CACHE[name]


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def latents(net, n=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, net.z_dim)).astype(np.float32)


@pytest.mark.parametrize("name", [n if n not in SLOW else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(set(CONFIGS) - {"skip-16px"})])
def test_images_and_every_pre_activation_match_the_mirror(name):
    net, gen = mirror_and_gen(name)
    z = latents(net)
    label = net.c_dim - 1 if net.c_dim else None
    c = torch.nn.functional.one_hot(torch.full((4,), label), net.c_dim).float() if label is not None else None
    view = sg.stylegan2_view(gen, label=label) if label is not None else gen
    with torch.inference_mode(), jax.default_matmul_precision("highest"):
        want_img = to_nhwc(net(torch.from_numpy(z), c))
        want_pre = [to_nhwc(a) for a in net.pre_activations(torch.from_numpy(z), c)]
        got_img = view.generate(jnp.asarray(z))
        assert rel(got_img, want_img) < 1e-4, name
        assert len(want_pre) == gen.num_layers
        for layer, want in enumerate(want_pre, start=1):
            got = view.boundary(jnp.asarray(z), layer)
            assert rel(got, want.reshape(4, -1)) < 1e-4, (name, layer)


def test_truncation_matches_the_mirror():
    net, gen = mirror_and_gen("skip-c0-m2")
    z = latents(net, seed=1)
    for psi, cutoff in ((0.5, None), (0.7, 3)):
        view = sg.stylegan2_view(gen, truncation_psi=psi, truncation_cutoff=cutoff)
        with torch.inference_mode(), jax.default_matmul_precision("highest"):
            want = to_nhwc(net(torch.from_numpy(z), psi=psi, cutoff=cutoff))
            assert rel(view.generate(jnp.asarray(z)), want) < 1e-4, (psi, cutoff)


def _layers(gen):
    """The first block's layer, both convolutions of the second block (where the
    image, and in ``resnet`` the skip branch, enter the state) and the last layer."""
    return (1, 2, 3, gen.num_layers)


@jax.jit
def _decoded_per_layer(gen, z):
    """``generate(z)`` and, per layer of :func:`_layers`, ``decode(features(z, l), l)``
    and the units' shape (one program: eager, every small op would compile alone)."""
    out = []
    for layer in _layers(gen):
        h = gen.features(z, layer)
        assert gen.units(h).shape == (z.shape[0], *gen.layer_shape(layer))
        out.append(gen.decode(h, layer))
    return gen.generate(z), out


@pytest.mark.parametrize("name, spaces", [("skip-c0-m2", ("z", "w")), ("resnet-c10-m8", ("z",)),
                                          pytest.param("resnet-c10-m8", ("w",), marks=pytest.mark.slow)])
def test_decode_of_features_is_generate_in_z_and_w(name, spaces):
    _, gen = mirror_and_gen(name)
    for space in spaces:
        view = sg.stylegan2_view(gen, space=space, label=0 if gen.model.module.c_dim else None)
        z = jax.random.normal(jax.random.key(2), (3, view.latent_dim))
        x, decoded = _decoded_per_layer(view, z)
        for layer, d in zip(_layers(view), decoded):
            np.testing.assert_allclose(d, x, rtol=0, atol=1e-5, err_msg=f"{space} layer {layer}")


def test_w_space_is_the_mapped_w_standardised():
    _, gen = mirror_and_gen("skip-c0-m2")
    z0 = latents(mirror_and_gen("skip-c0-m2")[0], n=1)[0]
    w0 = sg.w_query(gen, z0)
    u0 = sg.latent_from_z(sg.stylegan2_view(gen, space="w"), z0)
    stats = gen.params["stats"]
    np.testing.assert_allclose(np.asarray(stats["w_mean"]) + np.asarray(stats["w_std"]) * u0, w0, rtol=1e-5, atol=1e-5)
    # G_w(u0) is G_z(z0): the same ws reach the synthesis
    x_z = gen.generate(jnp.asarray(z0[None]))
    x_w = sg.stylegan2_view(gen, space="w").generate(jnp.asarray(u0[None]))
    np.testing.assert_allclose(x_w, x_z, atol=1e-4)
    # the statistics describe the mapped samples: standardised, they have mean 0 and std 1
    z = jax.random.normal(jax.random.key(5), (2000, gen.latent_dim))
    u = (np.asarray(sg.mapped_w(gen, z)) - np.asarray(stats["w_mean"])) / np.asarray(stats["w_std"])
    assert np.all(np.abs(u.mean(0)) < 0.15) and np.all(np.abs(u.std(0) - 1) < 0.15)


def test_another_label_is_another_leaf_not_another_program():
    _, gen = mirror_and_gen("resnet-c10-m8")
    z = jax.random.normal(jax.random.key(3), (2, gen.latent_dim))
    f = jax.jit(lambda g, z: g.generate(z))
    a = f(sg.stylegan2_view(gen, label=1), z)
    before = f._cache_size()
    b = f(sg.stylegan2_view(gen, label=7), z)
    assert f._cache_size() == before
    assert not np.allclose(a, b)
    with pytest.raises(ValueError, match="label must be an integer in 0..9"):
        sg.stylegan2_view(gen, label=10)


def test_frozen_styles_keep_the_layers_below_and_fix_those_above():
    _, gen = mirror_and_gen("skip-c0-m2")
    z0 = np.zeros(gen.latent_dim, np.float32)
    layer = 3
    frozen = sg.frozen_styles_view(gen, layer, z0)
    z = jax.random.normal(jax.random.key(4), (3, gen.latent_dim))
    for k in range(1, layer + 1):              # the region's layers follow the latent as before
        np.testing.assert_allclose(frozen.boundary(z, k), gen.boundary(z, k), rtol=1e-6, atol=1e-6)
    ws, ws0 = frozen.features(z, 0).ws, gen.features(jnp.asarray(z0[None]), 0).ws[0]
    np.testing.assert_allclose(ws[:, layer:], np.broadcast_to(ws0[layer:], ws[:, layer:].shape), rtol=1e-6)
    assert not np.allclose(frozen.boundary(z, layer + 1), gen.boundary(z, layer + 1))
    np.testing.assert_allclose(frozen.generate(jnp.asarray(z0[None])), gen.generate(jnp.asarray(z0[None])),
                               atol=1e-5)                # the query itself is unchanged
    with pytest.raises(ValueError, match="layer must be in 1..7"):
        sg.frozen_styles_view(gen, 0, z0)


@pytest.mark.parametrize("space", ["w", pytest.param("z", marks=pytest.mark.slow)])
def test_region_is_exact(space):
    """Every E-GBAS sample inside the region (the full layer test); a candidate that
    flips one kept unit's sign is outside."""
    net, gen = mirror_and_gen("skip-16px")
    view = sg.stylegan2_view(gen, space=space)
    z0 = sg.latent_from_z(view, latents(net, n=1, seed=7)[0])
    cfg = gb.EGBASConfig(ber_steps=100, ber_window=50, capacity=32, proposals=8, max_iterations=200,
                         step_size=0.25, interval=1.0)
    layer = 3
    res = gb.egbas(view, z0, layer, cfg, key=jax.random.key(0))
    assert int(res.num_kept) > 0 and int(res.tree.num_samples) > 1
    s = res.tree.accepted()
    assert bool(np.all(gb.in_region(view, s, layer, res.indicator, margin=1e-4)))
    a = np.asarray(view.boundary(jnp.asarray(s), layer))
    kept = np.flatnonzero(np.asarray(res.indicator))
    # Newton steps on the kept unit's pre-activation, overshooting by half, cross its
    # boundary (a straight line along the query's gradient need not: in Z the mapping
    # normalises the latent, so the unit is curved along any line); the first point past
    # it is outside
    i = kept[0]
    unit = lambda z: view.boundary(z[None], layer)[0, i]
    a0 = float(unit(jnp.asarray(z0)))
    first, z = None, jnp.asarray(z0)
    for _ in range(50):
        v, g = jax.value_and_grad(unit)(z)
        if np.sign(float(v)) != np.sign(a0):
            first = np.asarray(z)
            break
        z = z - 1.5 * v * g / jnp.sum(g * g)
    assert first is not None, "no point across the kept boundary within 50 Newton steps"
    assert not bool(gb.in_region(view, first[None], layer, res.indicator)[0])
    assert np.all(np.sign(a[:, i]) * np.sign(a0) >= 0) or np.min(np.sign(a0) * a[:, i]) > -1e-4


def test_the_references_mirror_round_trips_and_runs_the_batched_algorithm():
    """``torch_mirror.from_jax`` of a StyleGAN2 (the key mapping reversed) computes
    the JAX model's layers in Z and W, and the batched PyTorch reference of the
    benchmarks runs on its layer states."""
    import torch_mirror
    from torch_mirror import batched_torch

    _, gen = mirror_and_gen("skip-16px")
    z = latents(mirror_and_gen("skip-16px")[0], n=3, seed=9)
    for space in ("z", "w"):
        view = sg.stylegan2_view(gen, space=space)
        net = torch_mirror.from_jax(view)
        with torch.inference_mode(), jax.default_matmul_precision("highest"):
            zt = torch.from_numpy(z)
            assert rel(net.generate(zt), view.generate(jnp.asarray(z))) < 1e-4
            for layer in range(1, view.num_layers + 1):
                assert rel(net.boundary(zt, layer), view.boundary(jnp.asarray(z), layer)) < 1e-4, (space, layer)
    cfg = gb.EGBASConfig(ber_steps=5, ber_tol=0.0, capacity=8, proposals=4, max_iterations=20, step_size=0.25,
                         interval=1.0)
    out = batched_torch.run(gen, z[0], 3, cfg, 0, net=torch_mirror.from_jax(gen))
    assert out["ber_steps"] == 5 and out["theta"].shape == (gen.layer_size(3),) and out["num_samples"] >= 1


@pytest.mark.parametrize("arch, c_dim", [("resnet", 0), ("skip", 4), ("orig", 0)])
def test_discriminator_matches_the_mirror(arch, c_dim):
    """Features of every block and the logits (minibatch std included; with a
    label projection) against the mirror's, through the converter."""
    from gbas_jax.models import registry
    from torch_mirror.stylegan2 import TorchStyleGAN2Discriminator

    torch.manual_seed(2)
    net = TorchStyleGAN2Discriminator(c_dim=c_dim, img_resolution=32, architecture=arch, channel_base=256,
                                      channel_max=16, conv_clamp=0.8 if arch == "skip" else None,
                                      mapping_layers=2).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("bias"):
                p.add_(0.1 * torch.randn(p.shape))
    spec, variables, _ = convert.layout_discriminator(net.state_dict_numpy(),
                                                      conv_clamp=0.8 if arch == "skip" else None)
    assert spec["architecture"] == arch and spec["c_dim"] == c_dim
    disc = registry.make_discriminator(registry.discriminator_module(spec), variables)
    x = np.random.default_rng(3).uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32)
    c = np.eye(c_dim, dtype=np.float32)[np.arange(8) % c_dim] if c_dim else None
    with torch.inference_mode(), jax.default_matmul_precision("highest"):
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
        feats, _, _ = net.features(xt)
        got = disc.features(jnp.asarray(x))
        assert len(got) == len(feats)
        for g, f in zip(got, feats):
            assert rel(g, to_nhwc(f)) < 1e-4
        want = net(xt, None if c is None else torch.from_numpy(c)).numpy()
        logits = disc.model.module.apply(disc.params, jnp.asarray(x), None if c is None else jnp.asarray(c))
        assert rel(logits, want) < 1e-4
