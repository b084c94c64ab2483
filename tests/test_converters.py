"""Converters: every layout and container against PyTorch, plus refusal of bad files.

The PyTorch modules (torch_mirror/layouts.py) are written after the public
architectures, initialised randomly (biases and BatchNorm statistics included),
saved with ``torch.save`` in the zip and legacy containers and as safetensors,
converted, and compared on a batch of latents: images, every layer's
pre-activations and the discriminator's features within 1e-4 of the output's
scale (float32).
"""

from __future__ import annotations

import os
import subprocess
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is a test dependency: pip install -e '.[test]'")
from safetensors.torch import save_file  # noqa: E402

import converters  # noqa: E402
import gbas_jax as gb  # noqa: E402
from torch_mirror import layouts as tm  # noqa: E402
from converters import CheckpointError, UnsafePickleError  # noqa: E402

pytestmark = pytest.mark.fast

RTOL = 1e-4
CONTAINERS = ("zip", "legacy", "safetensors")


def _close(ours, ref, what):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, (what, ours.shape, ref.shape)
    err = np.abs(ours - ref).max() / max(np.abs(ref).max(), 1e-12)
    assert err < RTOL, f"{what}: relative error {err:.2e}"


def _nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


@pytest.fixture
def fake_zoo_config(monkeypatch):
    """pytorch_GAN_zoo's ``models.utils.config.BaseConfig``, importable only while saving."""
    mod = types.ModuleType("models.utils.config")

    class BaseConfig:
        pass

    BaseConfig.__module__ = "models.utils.config"
    BaseConfig.__qualname__ = "BaseConfig"
    mod.BaseConfig = BaseConfig
    for name, m in (("models", types.ModuleType("models")), ("models.utils", types.ModuleType("models.utils")),
                    ("models.utils.config", mod)):
        monkeypatch.setitem(sys.modules, name, m)
    return BaseConfig


def _save(obj, path, container):
    if container == "safetensors":
        flat = {}
        for k, v in obj.items():
            if isinstance(v, dict):
                flat.update({f"{k}.{kk}": vv.contiguous() for kk, vv in v.items()})
            elif isinstance(v, torch.Tensor):
                flat[k] = v.contiguous()
        save_file(flat, path)
    else:
        torch.save(obj, path, _use_new_zipfile_serialization=container == "zip")
    return path


def _check_generator(path, gtorch, z):
    g = gb.load_pretrained(path)
    with torch.no_grad():
        x = gtorch(torch.from_numpy(z))
    zj = jnp.asarray(z)
    _close(g.generate(zj), _nhwc(x), "image")
    assert len(gtorch.pre) == g.num_layers
    for layer, a in enumerate(gtorch.pre, start=1):
        _close(g.boundary(zj, layer), _nhwc(a).reshape(len(z), -1), f"layer {layer} pre-activation")
    return g, x


def _check_discriminator(path, dtorch, x):
    d = gb.load_discriminator(path)
    with torch.no_grad():
        feats = dtorch.features(x)
    ours = d.features(jnp.asarray(_nhwc(x)))
    assert len(ours) == len(feats)
    for i, (a, b) in enumerate(zip(ours, feats)):
        _close(a, _nhwc(b), f"discriminator block {i}")
    return d


@pytest.mark.parametrize("container", CONTAINERS)
def test_pggan_zoo(tmp_path, container, fake_zoo_config):
    torch.manual_seed(0)
    G, D, avg = tm.ZooGNet(12, [16, 16, 8]), tm.ZooDNet([16, 16, 8]), tm.ZooGNet(12, [16, 16, 8])
    cfg = fake_zoo_config()
    cfg.alpha, cfg.depthScales, cfg.miniBatchStdDev, cfg.equalizedlR = 0.0, [16, 16, 8], True, True
    bundle = {"config": cfg, "netG": G.state_dict(), "netD": D.state_dict(), "avgG": avg.state_dict()}
    src = _save(bundle, str(tmp_path / f"pgan.{container}"), container)
    for name in ("models.utils.config", "models.utils", "models"):
        sys.modules.pop(name)          # the converter must not need the class
    info = converters.convert(src, str(tmp_path / "out"))
    assert info["layout"] == "pggan-zoo" and info["weights"] == "avgG"
    assert info["generator"]["resolution"] == 16 and info["generator"]["widths"] == [16, 16, 8]
    z = np.random.default_rng(0).standard_normal((8, 12)).astype(np.float32)
    _, x = _check_generator(str(tmp_path / "out"), avg, z)
    d = _check_discriminator(str(tmp_path / "out"), D, x)
    with torch.no_grad():
        logits = D(x)[:, 0].numpy()
    _close(d(jnp.asarray(_nhwc(x))), logits, "discriminator logits (minibatch stddev)")
    # netG on request; the older key form without ".module".
    old = {k.replace(".module.", "."): v for k, v in G.state_dict().items()}
    src2 = _save({"netG": old, "avgG": avg.state_dict()}, str(tmp_path / f"old.{container}"), container)
    converters.convert(src2, str(tmp_path / "out2"), weights="netG")
    _check_generator(str(tmp_path / "out2"), G, z)


@pytest.mark.parametrize("container", CONTAINERS)
def test_pggan_dissect(tmp_path, container):
    torch.manual_seed(1)
    G = tm.DissectGenerator([12, 16, 16, 8, 8])
    src = _save(G.state_dict(), str(tmp_path / f"church.{container}"), container)
    info = converters.convert(src, str(tmp_path / "out"))
    assert info["layout"] == "pggan-dissect" and info["generator"]["resolution"] == 32
    z = np.random.default_rng(1).standard_normal((6, 12)).astype(np.float32)
    _check_generator(str(tmp_path / "out"), G, z)


def test_pggan_dissect_stored_scale(tmp_path):
    """Files that store ``wscale.scale`` (a per-layer constant) are honoured."""
    torch.manual_seed(2)
    G = tm.DissectGenerator([12, 16, 16])
    sd = dict(G.state_dict())
    for name in G.names:
        block = getattr(G, name)
        block.wscale.scale = 1.7 * block.wscale.scale
        sd[f"{name}.wscale.scale"] = torch.tensor([block.wscale.scale], dtype=torch.float32)
    torch.save(sd, tmp_path / "g.pth")
    converters.convert(str(tmp_path / "g.pth"), str(tmp_path / "out"))
    z = np.random.default_rng(2).standard_normal((4, 12)).astype(np.float32)
    _check_generator(str(tmp_path / "out"), G, z)


@pytest.mark.parametrize("container", CONTAINERS)
def test_dcgan_examples(tmp_path, container):
    torch.manual_seed(3)
    G, D = tm.ExamplesG(nz=8, ngf=8, nc=3), tm.ExamplesD(ndf=8, nc=3)
    src = _save(G.state_dict(), str(tmp_path / f"netG.{container}"), container)
    dsrc = _save(D.state_dict(), str(tmp_path / f"netD.{container}"), container)
    info = converters.convert(src, str(tmp_path / "out"), discriminator=dsrc)
    assert info["layout"] == "dcgan-examples" and info["generator"]["image_size"] == 64
    z = np.random.default_rng(3).standard_normal((5, 8)).astype(np.float32)
    _, x = _check_generator(str(tmp_path / "out"), G, z)
    _check_discriminator(str(tmp_path / "out"), D, x)


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("isize,nc,extra", [(32, 1, 1), (16, 3, 0)])
def test_dcgan_wgan(tmp_path, container, isize, nc, extra):
    torch.manual_seed(4)
    G, D = tm.WganG(isize, 8, nc, 8, extra), tm.WganD(isize, nc, 8, extra)
    src = _save(G.state_dict(), str(tmp_path / f"g.{container}"), container)
    dsrc = _save(D.state_dict(), str(tmp_path / f"d.{container}"), container)
    info = converters.convert(src, str(tmp_path / "out"), discriminator=dsrc)
    assert info["layout"] == "dcgan-wgan" and info["generator"]["image_size"] == isize
    z = np.random.default_rng(4).standard_normal((5, 8)).astype(np.float32)
    _, x = _check_generator(str(tmp_path / "out"), G, z)
    _check_discriminator(str(tmp_path / "out"), D, x)


# -- refusals: one clear error, nothing written ------------------------------------

def _refused(tmp_path, src, match, **kw):
    out = tmp_path / "refused"
    with pytest.raises(CheckpointError, match=match):
        converters.convert(str(src), str(out), **kw)
    assert not out.exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []   # no temporary folder left


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_malicious_global_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    sd = dict(tm.ExamplesG(nz=4, ngf=4, nc=1).state_dict())
    sd["payload"] = _Evil(str(marker))
    for container in ("zip", "legacy"):
        src = tmp_path / f"evil_{container}.pth"
        torch.save(sd, src, _use_new_zipfile_serialization=container == "zip")
        with pytest.raises(UnsafePickleError, match=r"posix\.system|nt\.system|os\.system"):
            converters.convert(str(src), str(tmp_path / "out"))
        assert not marker.exists() and not (tmp_path / "out").exists()


def test_builtins_eval_is_refused(tmp_path):
    import pickle

    class EvalIt:
        def __reduce__(self):
            return (eval, ("1 + 1",))

    src = tmp_path / "eval.pth"
    torch.save({"x": EvalIt()}, src)
    with pytest.raises(UnsafePickleError, match=r"(__builtin__|builtins)\.eval"):
        converters.load_pth(str(src))
    assert issubclass(UnsafePickleError, pickle.UnpicklingError)


def test_missing_key_wrong_shape_unknown_truncated(tmp_path):
    G = tm.WganG(16, 8, 1, 8, 0)
    sd = dict(G.state_dict())
    key = "main.pyramid:16-8:convt.weight"
    torch.save({k: v for k, v in sd.items() if k != key}, tmp_path / "missing.pth")
    _refused(tmp_path, tmp_path / "missing.pth", "missing key 'main.pyramid:16-8:convt.weight'")
    bn = "main.initial:16:batchnorm.weight"
    torch.save({**sd, bn: torch.ones(3)}, tmp_path / "shape.pth")
    _refused(tmp_path, tmp_path / "shape.pth", "main.initial:16:batchnorm.weight")
    torch.save({"encoder.weight": torch.ones(2, 2)}, tmp_path / "unknown.pth")
    _refused(tmp_path, tmp_path / "unknown.pth", "unknown layout")
    torch.save({**sd, "main.extra.weight": torch.ones(2)}, tmp_path / "extra.pth")
    _refused(tmp_path, tmp_path / "extra.pth", "unexpected key 'main.extra.weight'", format="dcgan-wgan")
    for container in ("zip", "legacy", "safetensors"):
        src = _save(sd, str(tmp_path / f"full.{container}"), container)
        data = open(src, "rb").read()
        cut = tmp_path / f"cut.{container}"
        cut.write_bytes(data[: len(data) * 2 // 3])
        _refused(tmp_path, cut, "truncated|damaged")
    (tmp_path / "text.pth").write_text("hello")
    _refused(tmp_path, tmp_path / "text.pth", "not a PyTorch checkpoint")


def test_mid_fade_checkpoint_is_refused(tmp_path, fake_zoo_config):
    cfg = fake_zoo_config()
    cfg.alpha = 0.5
    G = tm.ZooGNet(8, [8, 8])
    torch.save({"config": cfg, "netG": G.state_dict()}, tmp_path / "fade.pth")
    _refused(tmp_path, tmp_path / "fade.pth", r"alpha = 0\.5")


def test_command_line_and_gbas_jax_convert(tmp_path):
    G = tm.DissectGenerator([8, 8, 8])
    torch.save(G.state_dict(), tmp_path / "g.pth")
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "-m", "converters", str(tmp_path / "g.pth"), str(tmp_path / "a"), "--json"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert '"layout": "pggan-dissect"' in r.stdout
    from gbas_jax.cli import main
    assert main(["convert", str(tmp_path / "g.pth"), str(tmp_path / "b")]) == 0
    assert main(["convert", str(tmp_path / "g.pth"), str(tmp_path / "b")]) == 2      # exists
    assert main(["convert", str(tmp_path / "nope.pth"), str(tmp_path / "c")]) == 2
    assert not (tmp_path / "c").exists()
    z = jnp.ones((1, 8))
    np.testing.assert_array_equal(gb.load_pretrained(str(tmp_path / "a")).generate(z),
                                  gb.load_pretrained(str(tmp_path / "b")).generate(z))


@pytest.mark.slow
def test_egbas_on_converted_pggan(tmp_path):
    """E-GBAS end to end on a converted 32x32 PGGAN (random weights)."""
    torch.manual_seed(5)
    G = tm.ZooGNet(16, [16, 16, 8, 8])
    torch.save({"netG": G.state_dict()}, tmp_path / "pgan.pth")
    converters.convert(str(tmp_path / "pgan.pth"), str(tmp_path / "out"))
    gen = gb.load_pretrained(str(tmp_path / "out"))
    assert gen.num_layers == 8 and gen.image_shape == (32, 32, 3)
    cfg = gb.EGBASConfig(ber_steps=40, ber_tol=0.0, ber_lambda=1.0, capacity=24, proposals=8, max_iterations=200,
                         step_size=0.3, interval=1.0)
    z0 = jax.random.normal(jax.random.key(0), (16,))
    res = gb.egbas(gen, z0, 4, cfg, key=jax.random.key(1))
    n = int(res.tree.num_samples)
    assert 0 < int(res.num_kept) < gen.layer_size(4)
    assert n > 1
    inside = gb.in_region(gen, res.tree.samples[:n], 4, res.indicator)
    assert bool(inside.all())


@pytest.mark.slow
def test_converted_folder_settings_default_then_recommended(tmp_path, capsys):
    """A converted pytorch_GAN_zoo checkpoint carries no recommendation: the command
    line runs the library defaults and says so; once recommended fields are added
    to its architecture.json, it uses them and says where they came from."""
    import json
    from gbas_jax.cli import main
    torch.manual_seed(6)
    G = tm.ZooGNet(16, [16, 16, 8])
    torch.save({"netG": G.state_dict()}, tmp_path / "pgan.pth")
    assert main(["convert", str(tmp_path / "pgan.pth"), str(tmp_path / "m")]) == 0
    assert "library defaults" in capsys.readouterr().out
    run = ["sample", "--model", str(tmp_path / "m"), "--layer", "2", "--no-progress", "--capacity", "24",
           "--proposals", "8", "--ber-steps", "100", "--ber-window", "50", "--max-iterations", "50",
           "--allow-incomplete"]
    assert main([*run, "--out", str(tmp_path / "a")]) == 0
    rec = json.loads((tmp_path / "a" / "record.json").read_text())
    assert "model" not in rec["config_sources"].values() and rec["config"]["ber_lambda"] == 0.1
    arch_path = tmp_path / "m" / "architecture.json"
    arch = json.loads(arch_path.read_text())
    arch["recommended"] = {"egbas": {"ber_lambda": 0.5, "step_size": 0.3}}
    arch_path.write_text(json.dumps(arch))
    capsys.readouterr()
    assert main([*run, "--out", str(tmp_path / "b")]) == 0
    printed = capsys.readouterr().out
    rec = json.loads((tmp_path / "b" / "record.json").read_text())
    assert rec["config"]["ber_lambda"] == 0.5 and rec["config_sources"]["ber_lambda"] == "model"
    assert "ber_lambda=0.5 (model)" in printed and "step_size=0.3 (model)" in printed
    arch["recommended"] = {"egbas": {"ber_lamda": 0.5}}          # a typo is an error naming the file
    arch_path.write_text(json.dumps(arch))
    assert main([*run, "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert str(arch_path) in err and "ber_lamda" in err
