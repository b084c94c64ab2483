"""genforce and InterFaceGAN PGGANs: zoo files, training checkpoints and plain
state dicts written by the PyTorch mirror (torch_mirror/genforce.py, after each
peer's code; benchmarks/pggan_peers.py checks the mirror against the peers'
own modules), converted and compared: images and every layer's pre-activation."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is a test dependency: pip install -e '.[test]'")

import converters  # noqa: E402
import gbas_jax as gb  # noqa: E402
from converters import CheckpointError  # noqa: E402
from gbas_jax.cli import main  # noqa: E402
from torch_mirror.genforce import GenforcePGGAN, InterfaceganPGGAN  # noqa: E402

from conftest import CLI_FAST  # noqa: E402

pytestmark = pytest.mark.fast

NETS = {"genforce": GenforcePGGAN, "interfacegan": InterfaceganPGGAN}


def _nhwc(t):
    return t.detach().permute(0, 2, 3, 1).numpy()


def _check(folder, G, z, tol=1e-4):
    g = gb.load_pretrained(folder)
    with torch.no_grad():
        x = G(torch.from_numpy(z))
    zj = jnp.asarray(z)
    ref = _nhwc(x)
    np.testing.assert_allclose(np.asarray(g.generate(zj)), ref, atol=tol * np.abs(ref).max(), err_msg="image")
    assert g.num_layers == len(G.pre)
    for layer, a in enumerate(G.pre, start=1):
        a = _nhwc(a).reshape(len(z), -1)
        np.testing.assert_allclose(np.asarray(g.boundary(zj, layer)), a, atol=tol * np.abs(a).max(),
                                   err_msg=f"layer {layer}")
    return g


@pytest.mark.parametrize("peer", NETS)
@pytest.mark.parametrize("fused", [False, True])
def test_state_dicts_match(tmp_path, peer, fused):
    torch.manual_seed(0)
    G = NETS[peer](resolution=16, z_dim=16, channels=3, fmaps_base=128, fmaps_max=16, fused_scale=fused)
    torch.save(G.state_dict(), tmp_path / "g.pth")
    info = converters.convert(str(tmp_path / "g.pth"), str(tmp_path / "out"),
                              fused_scale=fused and peer == "genforce")
    assert info["layout"] == f"pggan-{peer}"
    assert info["generator"]["widths"] == [16, 16, 8] and info["generator"]["resolution"] == 16
    z = np.random.default_rng(0).standard_normal((3, 16)).astype(np.float32)
    _check(str(tmp_path / "out"), G, z)


def test_genforce_zoo_and_training_checkpoint_forms(tmp_path):
    torch.manual_seed(1)
    G, G_smooth = GenforcePGGAN(resolution=8, z_dim=8), GenforcePGGAN(resolution=8, z_dim=8)
    D = {"lod": torch.zeros(()), "layer0.weight": torch.randn(4, 3, 1, 1)}     # a discriminator's entries
    torch.save({"generator": G.state_dict(), "discriminator": D, "generator_smooth": G_smooth.state_dict()},
               tmp_path / "pggan_zoo.pth")
    info = converters.convert(str(tmp_path / "pggan_zoo.pth"), str(tmp_path / "zoo"))
    assert info["weights"] == "generator_smooth" and info["discriminator"] is None
    assert set(info["skipped"]) == {"generator", "discriminator"}
    z = np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)
    _check(str(tmp_path / "zoo"), G_smooth, z)
    torch.save({"models": {name: {f"module.{k}": v for k, v in m.items()} for name, m in
                           (("generator", G.state_dict()), ("generator_smooth", G_smooth.state_dict()),
                            ("discriminator", D))},
                "running_metadata": {"iter": 1000}, "optimizers": {"generator": {"state": {}, "param_groups": []}}},
               tmp_path / "checkpoint_iter001000.pth")
    info = converters.convert(str(tmp_path / "checkpoint_iter001000.pth"), str(tmp_path / "train"))
    assert info["weights"] == "models/generator_smooth"
    _check(str(tmp_path / "train"), G_smooth, z)


def test_mid_growth_and_unflagged_fused_files_refused(tmp_path):
    torch.manual_seed(2)
    G = GenforcePGGAN(resolution=16, z_dim=16, fmaps_base=128, fmaps_max=16)
    sd = G.state_dict()
    sd["lod"] = torch.tensor(0.5)
    torch.save(sd, tmp_path / "growing.pth")
    with pytest.raises(CheckpointError, match="lod = 0.5: a checkpoint saved while growing"):
        converters.convert(str(tmp_path / "growing.pth"), str(tmp_path / "out"))
    F = GenforcePGGAN(resolution=16, z_dim=16, fmaps_base=128, fmaps_max=16, fused_scale=True)
    torch.save(F.state_dict(), tmp_path / "fused.pth")
    with pytest.raises(CheckpointError, match="layer4.weight.*fused up-sampling layer; convert with --fused-scale"):
        converters.convert(str(tmp_path / "fused.pth"), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


@pytest.mark.slow      # a whole sample run per case: the slow tier
@pytest.mark.parametrize("peer", NETS)
def test_sample_runs(tmp_path, peer):
    torch.manual_seed(3)
    G = NETS[peer](resolution=16, z_dim=16, fmaps_base=128, fmaps_max=16)
    torch.save(G.state_dict(), tmp_path / "g.pth")
    converters.convert(str(tmp_path / "g.pth"), str(tmp_path / "m"))
    assert main(["sample", "--model", str(tmp_path / "m"), "--layer", "3", "--out", str(tmp_path / "s"),
                 *CLI_FAST]) == 0
    rec = json.loads((tmp_path / "s" / "record.json").read_text())
    assert rec["counts"]["samples"] == 48 and rec["counts"]["kept_boundaries"] > 0
