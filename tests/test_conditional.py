"""Conditional generators: a DCGAN whose one-hot label is concatenated after z
(written by the PyTorch mirror, dropout after the first block), converted with
``--condition-dims``; E-GBAS with ``--label K`` runs over the free latent only."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is a test dependency: pip install -e '.[test]'")

import converters  # noqa: E402
import gbas_jax as gb  # noqa: E402
from converters import CheckpointError  # noqa: E402
from gbas_jax.cli import main  # noqa: E402
from gbas_jax.runtime import TRACE_COUNTS  # noqa: E402
from torch_mirror import layouts as tm  # noqa: E402

from conftest import CLI_FAST  # noqa: E402

pytestmark = pytest.mark.fast

NZ, NCLS = 6, 4


@pytest.fixture(scope="module")
def conditional(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cond")
    torch.manual_seed(11)
    G = tm.he_init(tm.ConditionalExamplesG(nz=NZ, n_classes=NCLS, ngf=4, nc=1))
    torch.save({"epoch": 9, "netG_state_dict": G.state_dict()}, tmp / "cgan.pth")
    info = converters.convert(str(tmp / "cgan.pth"), str(tmp / "model"), condition_dims=NCLS)
    return G, str(tmp / "model"), info


def _nhwc(t):
    return t.detach().permute(0, 2, 3, 1).numpy() if t.ndim == 4 else t.detach().numpy()


def test_parity_with_the_label(conditional):
    G, folder, info = conditional
    assert info["generator"]["latent_dim"] == NZ
    assert info["generator"]["condition"] == {"type": "one-hot-concat", "dims": NCLS}
    assert "labels 4" in converters.summary(info)
    gen = gb.load_pretrained(folder)
    assert gen.latent_dim == NZ
    z = np.random.default_rng(0).standard_normal((3, NZ)).astype(np.float32)
    for label in (0, 3):
        g = gb.view(gen, label=label)
        with torch.no_grad():
            ref = G(torch.from_numpy(z), torch.full((3,), label))
        scale = float(np.abs(_nhwc(ref)).max())
        np.testing.assert_allclose(np.asarray(g.generate(jnp.asarray(z))), _nhwc(ref), atol=1e-4 * scale)
        for layer, a in enumerate(G.pre, start=1):
            np.testing.assert_allclose(np.asarray(g.boundary(jnp.asarray(z), layer)), _nhwc(a).reshape(3, -1),
                                       atol=1e-4 * float(np.abs(_nhwc(a)).max()))
    with pytest.raises(ValueError, match="conditional .*4 labels.*--label"):
        gb.view(gen)
    with pytest.raises(ValueError, match="labels 0..3"):
        gb.view(gen, label=4)


def test_condition_dims_refused_where_it_cannot_apply(conditional, tmp_path):
    G, _, _ = conditional
    torch.save(G.state_dict(), tmp_path / "g.pth")
    with pytest.raises(CheckpointError, match="at least one free latent"):
        converters.convert(str(tmp_path / "g.pth"), str(tmp_path / "out"), condition_dims=NZ + NCLS)
    assert not (tmp_path / "out").exists()


def test_the_label_is_data_not_a_static_argument(conditional):
    _, folder, _ = conditional
    gen = gb.load_pretrained(folder)
    cfg = gb.EGBASConfig(capacity=16, proposals=8, ber_steps=60, ber_window=50)
    z0 = jnp.asarray(np.random.default_rng(1).standard_normal(NZ), jnp.float32)
    gb.egbas(gb.view(gen, label=1), z0, 1, cfg, key=jax.random.key(0))
    before = dict(TRACE_COUNTS)
    res = gb.egbas(gb.view(gen, label=2), z0, 1, cfg, key=jax.random.key(0))
    assert dict(TRACE_COUNTS) == before
    assert res.tree.samples.shape[-1] == NZ        # the tree lives in the free latent


@pytest.mark.slow      # a whole sample run per case: the slow tier
def test_sample_with_label_keeps_the_label_and_fills_the_tree(conditional, tmp_path, capsys):
    G, folder, _ = conditional
    assert main(["sample", "--model", folder, "--layer", "1", "--out", str(tmp_path / "x"), *CLI_FAST]) == 2
    assert "--label" in capsys.readouterr().err
    label = 2
    for seed in (0, 1, 2):
        out = tmp_path / f"s{seed}"
        assert main(["sample", "--model", folder, "--layer", "2", "--label", str(label), "--seed", str(seed),
                     "--out", str(out), *CLI_FAST]) == 0
        rec = json.loads((out / "record.json").read_text())
        assert rec["label"] == label and "free part" in rec["saved_latents"]
        assert rec["counts"]["samples"] == 48, rec["counts"]            # the tree filled
        for name in ("egbas_samples", "eps_l2_samples", "eps_linf_samples"):
            lat = np.load(out / f"{name}.npy")
            assert lat.shape[1] == NZ
        lat = np.load(out / "egbas_samples.npy")[:5]
        with torch.no_grad():
            ref = _nhwc(G(torch.from_numpy(lat), torch.full((5,), label)))
        g = gb.view(gb.load_pretrained(folder), label=label)
        np.testing.assert_allclose(np.asarray(g.generate(jnp.asarray(lat))), ref, atol=1e-4 * np.abs(ref).max())
    assert f"label {label}" in capsys.readouterr().out
