"""converters.rosinality: rosinality/stylegan2-pytorch checkpoints (both forms,
written by tests/stylegan2_files.py from the mirror) convert to the mirror's images,
pre-activations and discriminator features; SWAGAN is refused."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import gbas_jax as gb
from converters import CheckpointError, convert
from gbas_jax.cli import main
from stylegan2_files import rosinality_state_dicts, write_rosinality
from torch_mirror.stylegan2 import TorchStyleGAN2, TorchStyleGAN2Discriminator, to_nhwc

pytestmark = pytest.mark.fast


def nets(seed=0):
    torch.manual_seed(seed)
    G = TorchStyleGAN2(z_dim=16, w_dim=16, img_resolution=16, mapping_layers=3, channel_base=128,
                       channel_max=16).randomise(seed + 1)
    D = TorchStyleGAN2Discriminator(img_resolution=16, channel_base=128, channel_max=16).eval()
    return G, D


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


@pytest.mark.parametrize("training", [False, True])
def test_both_forms_convert_to_the_mirror(tmp_path, training):
    G, D = nets()
    path = tmp_path / ("000100.pt" if training else "stylegan2-ffhq-config-f.pt")
    write_rosinality(path, G, D if training else None, training=training)
    info = convert(str(path), str(tmp_path / "m"))
    assert info["layout"] == "stylegan2" and info["weights"] == ("g_ema and d" if training else "g_ema")
    assert info["skipped"] == (["ada_aug_p", "args", "d_optim", "g", "g_optim"] if training else [])
    assert info["generator"]["mapping_layers"] == 3 and info["generator"]["conv_clamp"] is None
    gen = gb.load_pretrained(str(tmp_path / "m"))
    stats = gen.params["stats"]
    # latent_avg is w_avg; a training checkpoint has none: the mean mapped w, as rosinality's mean_latent
    want = stats["w_mean"] if training else G.mapping.w_avg.numpy()
    np.testing.assert_allclose(stats["w_avg"], want, rtol=1e-6)
    z = np.random.default_rng(0).standard_normal((3, 16)).astype(np.float32)
    with torch.inference_mode(), jax.default_matmul_precision("highest"):
        assert rel(gen.generate(jnp.asarray(z)), to_nhwc(G(torch.from_numpy(z)))) < 1e-4
        for layer, a in enumerate(G.pre_activations(torch.from_numpy(z)), start=1):
            assert rel(gen.boundary(jnp.asarray(z), layer), to_nhwc(a).reshape(3, -1)) < 1e-4
        if training:
            disc = gb.load_discriminator(str(tmp_path / "m"))
            x = np.random.default_rng(1).uniform(-1, 1, (4, 16, 16, 3)).astype(np.float32)
            feats, _, _ = D.features(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
            for a, b in zip(disc.features(jnp.asarray(x)), feats):
                assert rel(a, to_nhwc(b)) < 1e-4
    if training:        # and the command line, in W
        out = tmp_path / "s"
        assert main(["sample", "--model", str(tmp_path / "m"), "--space", "w", "--layer", "3", "--out", str(out),
                     "--capacity", "48", "--proposals", "16", "--ber-steps", "100", "--ber-window", "50",
                     "--no-progress", "--allow-incomplete"]) == 0
        assert json.loads((out / "record.json").read_text())["space"] == "w"


def test_swagan_is_refused(tmp_path):
    G, _ = nets()
    g, _ = rosinality_state_dicts(G)
    g["to_rgb1.conv.weight"] = torch.zeros(1, 12, 16, 1, 1)
    g["iwt.ll"] = torch.zeros(2, 2)
    torch.save({"g_ema": g, "latent_avg": torch.zeros(16)}, tmp_path / "swagan.pt")
    with pytest.raises(CheckpointError, match="SWAGAN"):
        convert(str(tmp_path / "swagan.pt"), str(tmp_path / "m"))
    assert not (tmp_path / "m").exists()
