"""converters.nvlabs_pickle: stylegan2-ada-pytorch network pickles (written by
tests/stylegan2_files.py on the mirror) read as inert data and converted: the
mirror's images and pre-activations, its discriminator; every hostile or foreign
form refused in one line with nothing executed."""

import io
import json
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import gbas_jax as gb
from converters import CheckpointError, UnsafePickleError, convert
from converters.nvlabs_pickle import read_nvlabs
from gbas_jax.cli import main
from stylegan2_files import write_nvlabs_pickle
from torch_mirror.stylegan2 import TorchStyleGAN2, TorchStyleGAN2Discriminator, to_nhwc

pytestmark = pytest.mark.fast


def nets(c_dim=0, depth=2, seed=0):
    torch.manual_seed(seed)
    G = TorchStyleGAN2(z_dim=16, c_dim=c_dim, w_dim=16, img_resolution=16, mapping_layers=depth, channel_base=128,
                       channel_max=16, conv_clamp=256.0).randomise(seed + 1)
    D = TorchStyleGAN2Discriminator(c_dim=c_dim, img_resolution=16, channel_base=128, channel_max=16,
                                    conv_clamp=256.0, mapping_layers=2).eval()
    return G, D


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


@pytest.mark.parametrize("c_dim, depth, protocol", [(0, 2, 4), (10, 8, 3)])
def test_pickles_convert_to_the_mirror(tmp_path, c_dim, depth, protocol):
    G, D = nets(c_dim, depth)
    path = tmp_path / "network-snapshot-000100.pkl"
    write_nvlabs_pickle(path, G, D, protocol=protocol)
    info = convert(str(path), str(tmp_path / "m"))
    assert info["container"] == "nvlabs" and info["weights"] == "G_ema"
    assert info["skipped"] == ["G", "augment_pipe", "training_set_kwargs"]
    g = info["generator"]
    assert (g["c_dim"], g["mapping_layers"], g["conv_clamp"], g["architecture"]) == (c_dim, depth, 256.0, "skip")
    gen = gb.load_pretrained(str(tmp_path / "m"))
    if c_dim:
        gen = gb.models.views.view(gen, label=7)
    z = np.random.default_rng(0).standard_normal((3, 16)).astype(np.float32)
    c = torch.nn.functional.one_hot(torch.full((3,), 7), c_dim).float() if c_dim else None
    with torch.inference_mode(), jax.default_matmul_precision("highest"):
        assert rel(gen.generate(jnp.asarray(z)), to_nhwc(G(torch.from_numpy(z), c))) < 1e-4
        for layer, a in enumerate(G.pre_activations(torch.from_numpy(z), c), start=1):
            assert rel(gen.boundary(jnp.asarray(z), layer), to_nhwc(a).reshape(3, -1)) < 1e-4
        disc = gb.load_discriminator(str(tmp_path / "m"))
        x = np.random.default_rng(1).uniform(-1, 1, (4, 16, 16, 3)).astype(np.float32)
        feats, _, _ = D.features(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
        for a, b in zip(disc.features(jnp.asarray(x)), feats):
            assert rel(a, to_nhwc(b)) < 1e-4


def test_convert_then_sample_in_both_spaces(tmp_path, capsys):
    G, D = nets()
    write_nvlabs_pickle(tmp_path / "g.pkl", G, D)
    assert main(["convert", str(tmp_path / "g.pkl"), str(tmp_path / "m")]) == 0
    assert "took G_ema, skipped G, augment_pipe, training_set_kwargs" in capsys.readouterr().out
    for space in ("z", "w"):
        out = tmp_path / f"s{space}"
        assert main(["sample", "--model", str(tmp_path / "m"), "--space", space, "--layer", "3", "--out", str(out),
                     "--capacity", "48", "--proposals", "16", "--ber-steps", "100", "--ber-window", "50",
                     "--no-progress", "--allow-incomplete"]) == 0
        rec = json.loads((out / "record.json").read_text())
        assert rec["space"] == space and len(rec["metrics"]["E-GBAS"]["discriminator_similarity"]) == 2


def _refused(tmp_path, write, *words, error=CheckpointError):
    path = tmp_path / "x.pkl"
    write(path)
    with pytest.raises(error) as e:
        read_nvlabs(path.read_bytes())
    for w in words:
        assert w in str(e.value), str(e.value)
    with pytest.raises(CheckpointError):
        convert(str(path), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


class Boom:
    """Anything that unpickles by calling a function: the call must never happen."""
    ran = False

    def __reduce__(self):
        import os
        return (os.system, ("touch /tmp/gbas-jax-pwned",))


def test_an_extra_global_is_refused_and_nothing_runs(tmp_path):
    G, D = nets()
    _refused(tmp_path, lambda p: write_nvlabs_pickle(p, G, D, extra={"hook": Boom()}), "posix.system",
             error=UnsafePickleError)
    import os
    assert not os.path.exists("/tmp/gbas-jax-pwned")


def test_an_unknown_class_inside_g_ema_is_refused(tmp_path):
    from torch_mirror import stylegan2 as ms
    G, D = nets()
    _refused(tmp_path, lambda p: write_nvlabs_pickle(p, G, D, class_names={ms.ToRGB: "MyToRGB"}),
             "unknown class 'MyToRGB'", "synthesis.b4.torgb")


def test_a_stylegan3_generator_is_refused(tmp_path):
    from torch_mirror import stylegan2 as ms
    G, D = nets()
    _refused(tmp_path, lambda p: write_nvlabs_pickle(p, G, D, class_names={ms.Block: "SynthesisInput"}),
             "StyleGAN3")


def test_a_tensorflow_pickle_is_refused_with_the_way_out(tmp_path):
    """The TensorFlow-era form, ``(G, D, Gs)`` of ``dnnlib.tflib.network.Network``."""
    network = b"cdnnlib.tflib.network\nNetwork\n)\x81}bq\x00"
    _refused(tmp_path, lambda p: p.write_bytes(b"\x80\x03" + network + b"h\x00h\x00\x87."), "TensorFlow",
             "legacy.py")


class EvilStorage:
    """A storage as NVlabs' pickles hold them -- ``torch.storage._load_from_bytes``
    of a nested legacy ``torch.save`` -- whose nested object pickle names posix.system."""

    def __reduce__(self):
        import torch.storage
        evil = io.BytesIO()
        for part in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001}):
            pickle.dump(part, evil, protocol=2)
        evil.write(b"cposix\nsystem\n(S'touch /tmp/gbas-jax-pwned2'\ntR.")
        return (torch.storage._load_from_bytes, (evil.getvalue(),))


def test_malicious_bytes_inside_a_nested_storage_are_refused(tmp_path):
    G, D = nets()
    _refused(tmp_path, lambda p: write_nvlabs_pickle(p, G, D, extra={"augment_pipe": EvilStorage()}),
             "posix.system", error=UnsafePickleError)
    import os
    assert not os.path.exists("/tmp/gbas-jax-pwned2")
