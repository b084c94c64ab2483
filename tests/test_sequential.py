"""Any Sequential generator through a layer list (``convert --layers``): the
PyTorch-GAN DCGAN (Linear first block, up-sampling + conv blocks with biases,
BatchNorm eps 0.8) and the examples DCGAN with dropout, against their PyTorch
modules; wrong lists fail with one line naming the layer."""

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
from torch_mirror import layouts as tm  # noqa: E402

from conftest import CLI_FAST  # noqa: E402

pytestmark = pytest.mark.fast


def _nhwc(t):
    t = t.detach()
    return (t.permute(0, 2, 3, 1) if t.ndim == 4 else t).numpy()


def _close(ours, ref, what):
    ref = np.asarray(ref)
    np.testing.assert_allclose(np.asarray(ours), ref, atol=1e-4 * max(1.0, float(np.abs(ref).max())), err_msg=what)


def _write(tmp_path, G, layers, name="g"):
    torch.save(G.state_dict(), tmp_path / f"{name}.pth")
    (tmp_path / f"{name}.json").write_text(json.dumps(layers))
    return str(tmp_path / f"{name}.pth"), str(tmp_path / f"{name}.json")


def _check(folder, G, z):
    g = gb.load_pretrained(folder)
    with torch.no_grad():
        x = G(torch.from_numpy(z))
    zj = jnp.asarray(z)
    _close(g.generate(zj), _nhwc(x), "image")
    assert g.num_layers == len(G.pre)
    for layer, a in enumerate(G.pre, start=1):
        _close(g.boundary(zj, layer), _nhwc(a).reshape(len(z), -1), f"layer {layer} pre-activation")
        np.testing.assert_allclose(np.asarray(g.decode(g.features(zj, layer), layer)), np.asarray(g.generate(zj)),
                                   atol=1e-5)
    return g


@pytest.mark.parametrize("dropout", [False, True])
def test_pytorch_gan_dcgan(tmp_path, dropout):
    torch.manual_seed(0)
    G = tm.UpsampleG(latent_dim=8, init_size=4, widths=(16, 8), channels=1, dropout=dropout)
    src, layers = _write(tmp_path, G, G.layer_list())
    info = converters.convert(src, str(tmp_path / "out"), layers=layers)
    spec = info["generator"]
    assert (spec["type"], spec["image_size"], spec["channels"], spec["latent_dim"]) == ("sequential", 16, 1, 8)
    assert "2 probe-able layers" in converters.summary(info)
    z = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    _check(str(tmp_path / "out"), G, z)


def test_examples_dcgan_with_dropout_as_a_list(tmp_path):
    torch.manual_seed(1)
    G = tm.he_init(tm.ConditionalExamplesG(nz=6, n_classes=0, ngf=4, nc=1))
    ops = [{"op": "reshape", "shape": [6, 1, 1]}, {"op": "convtranspose", "stride": 1, "padding": 0},
           {"op": "batchnorm"}, {"op": "relu"}, {"op": "dropout"}]
    for _ in range(3):
        ops += [{"op": "convtranspose", "stride": 2, "padding": 1}, {"op": "batchnorm"}, {"op": "relu"}]
    ops += [{"op": "convtranspose", "stride": 2, "padding": 1}, {"op": "tanh"}]
    src, layers = _write(tmp_path, G, {"layers": ops})
    converters.convert(src, str(tmp_path / "out"), layers=layers)
    z = np.random.default_rng(1).standard_normal((3, 6)).astype(np.float32)

    class Plain(torch.nn.Module):          # the stack on z alone (no labels: n_classes 0)
        def forward(self, z):
            out = tm._Recording.forward(G, z.view(len(z), -1, 1, 1))
            self.pre = G.pre
            return out

    _check(str(tmp_path / "out"), Plain(), z)


@pytest.mark.slow      # a whole sample run per case: the slow tier
def test_sample_on_a_layer_list_model(tmp_path):
    torch.manual_seed(2)
    G = tm.he_init(tm.UpsampleG(latent_dim=8, init_size=4, widths=(16, 8), channels=1))
    src, layers = _write(tmp_path, G, G.layer_list())
    converters.convert(src, str(tmp_path / "m"), layers=layers)
    for layer in (1, 2):
        out = tmp_path / f"s{layer}"
        assert main(["sample", "--model", str(tmp_path / "m"), "--layer", str(layer), "--out", str(out),
                     *CLI_FAST]) == 0
        rec = json.loads((out / "record.json").read_text())
        assert rec["counts"]["units"] == (16 * 8 * 8, 8 * 16 * 16)[layer - 1]
        assert rec["counts"]["samples"] == 48 and rec["counts"]["kept_boundaries"] > 0


@pytest.mark.parametrize("edit,match", [
    (lambda L: L[4].update(kernel=5), r"layer 5 \(conv conv_blocks\.2\): conv_blocks\.2\.weight has a 3x3 kernel"),
    (lambda L: L[1].update(shape=[16, 2, 2]), r"layer 2 \(reshape\): cannot reshape \(256,\) .* to \[16, 2, 2\]"),
    (lambda L: L.insert(3, {"op": "upsample", "scale": 2}),
     r"layer 6 \(conv conv_blocks\.3\): 'conv_blocks\.3\.weight' has shape \(16,\), expected 4 dimensions"),
    (lambda L: L.__setitem__(11, {"op": "convtranspose", "padding": 1}),
     r"layer 12 \(convtranspose conv_blocks\.9\): conv_blocks\.9\.weight has shape \(1, 8, 3, 3\): 1 input "
     r"channels, but the layer before gives 8"),
    (lambda L: L.__setitem__(0, {"op": "linear", "prefix": "l1.", "bias": False}),
     r"layer 1 \(linear l1\.0\): l1\.0\.bias exists, but the list says no bias"),
    (lambda L: L.append({"op": "swish"}), r"layer 14: unknown op 'swish'"),
    (lambda L: L.pop(11), r"unexpected weight 'conv_blocks\.9\.bias': no layer of the list reads it \(and 1 more\)"),
])
def test_wrong_lists_fail_naming_the_layer(tmp_path, edit, match):
    torch.manual_seed(3)
    G = tm.UpsampleG(latent_dim=8, init_size=4, widths=(16, 8), channels=1)
    lst = G.layer_list()
    edit(lst["layers"])
    src, layers = _write(tmp_path, G, lst)
    with pytest.raises(CheckpointError, match=match) as e:
        converters.convert(src, str(tmp_path / "out"), layers=layers)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()
