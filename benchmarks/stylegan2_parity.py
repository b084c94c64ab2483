"""The StyleGAN2 converters checked against the peers' own code.

    python -m benchmarks stylegan2-parity --nvlabs DIR --rosinality DIR \\
        [--out benchmarks/results/stylegan2_parity.json]

(``python -m benchmarks.stylegan2_parity ...`` runs the same.)

``DIR`` are checkouts of NVlabs/stylegan2-ada-pytorch and
rosinality/stylegan2-pytorch (for example ``git clone`` of the mirrors the ``fetch``
tool brings; rosinality's large binary files are not needed).

**Why.**  ``tests/test_nvlabs_pickle.py`` and ``tests/test_rosinality.py`` check
:mod:`converters` against the project's own PyTorch StyleGAN2
(:mod:`torch_mirror.stylegan2`) and against files that ``tests/stylegan2_files.py``
writes in the peers' formats.  Both sides of those tests are ours.  Here the
networks, the files and the reference outputs all come from the peers' own code:
their classes are built with random weights, saved exactly as their training loops
and conversion scripts save them, converted with :func:`converters.convert`, and
their forward passes are compared with gbas-jax's on the converted folder.

**What is compared**, per configuration (figure: the largest relative difference
``max|a - b| / max|b|``, ``b`` the peer's output, ``a`` gbas-jax's):

* ``image``: the generator's image (NCHW taken to NHWC) against ``gen.generate``;
  ``image_truncated`` the same with truncation (it exercises ``w_avg`` /
  ``latent_avg``);
* ``layers``: every synthesis convolution's pre-activation (modulated convolution,
  plus the constant noise times its strength, plus the bias; before the leaky ReLU)
  against ``gen.boundary(z, l)``, layers ``l = 1 .. num_layers`` in forward order;
* ``d_features``: each discriminator block's output (``R`` down to 8) against
  ``disc.features``; ``d_logits`` the discriminator's output;
* ``w_avg``: the truncation centre the converted folder holds;
* not a test figure: ``control_g_vs_g_ema_image``, the same figure between the
  file's training generator and its EMA one (what taking the wrong one would give).

**How the peers' intermediate values are read, without editing their files.**
NVlabs: forward hooks on each ``SynthesisLayer`` mark the layer being run while
``torch_utils.ops.bias_act.bias_act`` is wrapped to record ``x + b`` (its input
plus the bias, before the activation) of the 4-D call made inside that layer;
forward hooks on each ``DiscriminatorBlock`` record the block's ``x``.
rosinality: forward pre-hooks on each ``StyledConv``'s ``activate`` record its input
plus its bias; forward hooks on the discriminator's ``ResBlock`` s record their
outputs.

**Stand-ins.**  NVlabs' custom ops use their own reference implementations on a
CPU tensor (nothing is compiled).  rosinality's ``op`` package compiles CUDA
extensions at import: a pure-PyTorch ``op`` written here from the documented
semantics (the leaky ReLU with bias and gain, ``upfirdn2d`` as zero insertion, pad
or crop, true convolution and decimation, ``conv2d_gradfix`` as the plain
convolutions) is put in ``sys.modules`` instead, and checked against NVlabs'
reference ``upfirdn2d`` / ``bias_act`` (``stand_in_check``).  ``requests``, which NVlabs'
``dnnlib`` imports for downloads only, is stubbed if it is not installed.  None of
the peers' code is copied into this repository (NVIDIA's is under a non-commercial
licence): it is imported from the directories given, and removed from
``sys.modules`` and ``sys.path`` afterwards.

Configurations (sizes chosen for a 2-core CPU, a few minutes in all): NVlabs
32x32 ``skip`` unconditional (2-layer mapping, ``conv_clamp`` 256, an ADA
``AugmentPipe`` in the snapshot), 32x32 ``resnet`` with 10 labels (8-layer mapping,
``skip`` discriminator, a small ``conv_clamp`` so that the clamp acts) and 256x256
``skip`` with reduced widths (``num_fp16_res=4`` as in NVlabs' training runs; the
references use ``force_fp32=True``); rosinality 32x32 training checkpoint (``g``,
``d``, ``g_ema``, Adam states after one real step, ``args``), 32x32 and 256x256
``{"g_ema", "latent_avg"}`` (rosinality's channel table is fixed: 512 channels up to
32x32, ``channel_multiplier=1`` above; the training checkpoint, full-width networks
with their Adam states, is about 0.5 GB in a temporary folder).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import os
import pickle
import re
import shlex
import subprocess
import sys
import tempfile
import time
import types
from typing import Dict, List, Optional

import numpy as np

from .common import record_header, write_json

TOLERANCE = 1e-4
PROG = "python -m benchmarks stylegan2-parity"
NVLABS_REPO = "NVlabs/stylegan2-ada-pytorch"
ROSINALITY_REPO = "rosinality/stylegan2-pytorch"
DEFAULT_OUT = os.path.join("benchmarks", "results", "stylegan2_parity.json")

NVLABS_CONFIGS = [
    dict(name="nvlabs-32-skip", resolution=32, z_dim=32, w_dim=32, c_dim=0, mapping_layers=2, channel_base=1024,
         channel_max=32, architecture="skip", d_architecture="resnet", num_fp16_res=0, conv_clamp=256,
         augment_pipe=True, truncation_psi=0.7, truncation_cutoff=None, batch=4, seed=1),
    dict(name="nvlabs-32-resnet-labels", resolution=32, z_dim=32, w_dim=32, c_dim=10, label=7, mapping_layers=8,
         channel_base=1024, channel_max=32, architecture="resnet", d_architecture="skip", num_fp16_res=0,
         conv_clamp=0.5, augment_pipe=False, truncation_psi=0.5, truncation_cutoff=4, batch=4, seed=2),
    dict(name="nvlabs-256-skip", resolution=256, z_dim=32, w_dim=32, c_dim=0, mapping_layers=2, channel_base=2048,
         channel_max=32, architecture="skip", d_architecture="resnet", num_fp16_res=4, conv_clamp=256,
         augment_pipe=False, truncation_psi=0.7, truncation_cutoff=None, batch=4, seed=3),
]

ROSINALITY_CONFIGS = [
    dict(name="rosinality-32-training", size=32, style_dim=64, n_mlp=8, channel_multiplier=2, form="training",
         batch=4, seed=4),
    dict(name="rosinality-32-g_ema", size=32, style_dim=64, n_mlp=8, channel_multiplier=2, form="g_ema",
         truncation_psi=0.7, batch=4, seed=5),
    dict(name="rosinality-256-g_ema", size=256, style_dim=64, n_mlp=8, channel_multiplier=1, form="g_ema",
         truncation_psi=0.7, batch=2, seed=6),
]


# -- small helpers ----------------------------------------------------------------------------

def rel(a, b) -> float:
    """``max|a - b| / max|b|`` (``b`` the reference)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} (gbas-jax) vs {b.shape} (peer)")
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))


def nhwc(t) -> np.ndarray:
    return t.detach().permute(0, 2, 3, 1).contiguous().numpy()


def flat_nhwc(t) -> np.ndarray:
    return nhwc(t).reshape(t.shape[0], -1)


def git_info(path: str, repository: str) -> dict:
    """The checkout's commit and any local change to its Python files."""
    def git(*args):
        r = subprocess.run(["git", "-C", path, *args], check=False, capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else None
    changed = git("status", "--porcelain", "--untracked-files=no", "--", "*.py")
    return {"repository": repository, "commit": git("rev-parse", "HEAD"),
            "modified_python_files": [line[3:] for line in (changed or "").splitlines() if line[:2].strip() != "D"]}


@contextlib.contextmanager
def imported_from(path: str, modules: Dict[str, types.ModuleType], owned: tuple):
    """``path`` first on ``sys.path`` and ``modules`` in ``sys.modules`` for the block;
    afterwards every module under the ``owned`` top-level names is removed again
    (those that were there before are put back)."""
    def mine(name):
        return name.split(".")[0] in owned
    saved = {k: v for k, v in sys.modules.items() if mine(k)}
    for k in saved:
        del sys.modules[k]
    sys.modules.update(modules)
    sys.path.insert(0, path)
    try:
        yield
    finally:
        if sys.path and sys.path[0] == path:
            sys.path.pop(0)
        for k in [k for k in sys.modules if mine(k)]:
            del sys.modules[k]
        sys.modules.update(saved)


def requests_stub() -> Dict[str, types.ModuleType]:
    """NVlabs' ``dnnlib.util`` imports ``requests`` (for downloads only)."""
    try:
        import requests  # noqa: F401
        return {}
    except ImportError:
        return {"requests": types.ModuleType("requests")}


def randomise(net, generator) -> None:
    """Random biases (scaled by each layer's run-time bias gain, so that they matter),
    noise strengths and ``w_avg``: with the peers' initialisation they are 0 (1 for
    the style affines' biases)."""
    import torch
    with torch.no_grad():
        for module in net.modules():
            gain = float(getattr(module, "bias_gain", getattr(module, "lr_mul", 1.0)))
            for name, p in module.named_parameters(recurse=False):
                if name == "bias":
                    p.add_(torch.randn(p.shape, generator=generator) * (0.1 / gain))
                elif name == "noise_strength" or (type(module).__name__ == "NoiseInjection" and name == "weight"):
                    p.copy_(0.05 + 0.15 * torch.rand(p.shape, generator=generator))
            for name, b in module.named_buffers(recurse=False):
                if name == "w_avg":
                    b.copy_(torch.randn(b.shape, generator=generator))


def perturb(net, generator, scale: float = 0.05) -> None:
    """Every parameter moved a little: a training network that differs from the EMA one."""
    import torch
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * scale)


def convert_and_load(path: str, folder: str):
    import converters
    import gbas_jax as gb
    info = converters.convert(path, folder)
    gen = gb.load_pretrained(folder)
    disc = gb.load_discriminator(folder) if info["discriminator"] else None
    return info, gen, disc


def converted_summary(info: dict) -> dict:
    g, d = info["generator"], info["discriminator"]
    keys = ("resolution", "z_dim", "w_dim", "c_dim", "channel_base", "channel_max", "mapping_layers", "architecture",
            "conv_clamp")
    return {"weights": info["weights"], "skipped": info["skipped"], "generator": {k: g[k] for k in keys},
            "discriminator": None if d is None else {k: d[k] for k in ("resolution", "channel_base", "channel_max",
                                                                      "architecture", "conv_clamp", "c_dim",
                                                                      "mbstd_group_size")}}


def compare_generator(gen, z: np.ndarray, image, pre: Dict[int, object], label: Optional[int] = None) -> dict:
    """gbas-jax's image and every layer's pre-activation against the peer's."""
    import jax.numpy as jnp
    from gbas_jax.models import views
    view = views.view(gen, label=label) if label is not None else gen
    zj = jnp.asarray(z)
    layers = {}
    for layer in range(1, view.num_layers + 1):
        if layer not in pre:
            raise RuntimeError(f"no peer pre-activation recorded for layer {layer}")
        layers[str(layer)] = rel(view.boundary(zj, layer), flat_nhwc(pre[layer]))
    if set(pre) != set(range(1, view.num_layers + 1)):
        raise RuntimeError(f"the peer ran layers {sorted(pre)}, gbas-jax has 1..{view.num_layers}")
    return {"image": rel(view.generate(zj), nhwc(image)), "layers": layers, "layers_max": max(layers.values())}


def compare_truncated(gen, z, image, psi, cutoff, label=None) -> float:
    import jax.numpy as jnp
    from gbas_jax.models.stylegan2 import stylegan2_view
    view = stylegan2_view(gen, label=label, truncation_psi=psi, truncation_cutoff=cutoff)
    return rel(view.generate(jnp.asarray(z)), nhwc(image))


def compare_discriminator(disc, x_nchw, feats: Dict[int, object], logits, c=None) -> dict:
    import jax.numpy as jnp
    x = jnp.asarray(nhwc(x_nchw))
    mine = disc.features(x)
    res = sorted(feats, reverse=True)
    if len(mine) != len(res):
        raise RuntimeError(f"gbas-jax has {len(mine)} discriminator blocks, the peer {len(res)}")
    out = {"d_features": {str(r): rel(a, nhwc(feats[r])) for r, a in zip(res, mine)}}
    out["d_features_max"] = max(out["d_features"].values())
    c = None if c is None else jnp.asarray(c.numpy())
    out["d_logits"] = rel(disc.model.module.apply(disc.params, x, c), logits.detach().reshape(-1).numpy())
    return out


def worst(record: dict) -> float:
    vals = [v for k, v in record.items() if k in ("image", "image_truncated", "layers_max", "d_features_max",
                                                    "d_logits", "w_avg") and v is not None]
    return max(vals)


# -- NVlabs stylegan2-ada-pytorch -------------------------------------------------------------

@contextlib.contextmanager
def nvlabs_recording(G, D, networks, ops_bias_act):
    """Record every SynthesisLayer's ``x + b`` (keyed by gbas-jax layer number) and
    every DiscriminatorBlock's ``x`` (keyed by resolution) during the block."""
    pre, feats, active = {}, {}, []
    layer_of = {}
    for name, m in G.named_modules():
        if isinstance(m, networks.SynthesisLayer):
            res, conv = re.fullmatch(r"synthesis\.b(\d+)\.(conv[01])", name).groups()
            log2 = int(math.log2(int(res)))
            layer_of[m] = 2 * log2 - (4 if conv == "conv0" else 3)
    original = ops_bias_act.bias_act

    def recording(x, b=None, dim=1, **kwargs):
        if active and x.ndim == 4:
            shape = [-1 if i == dim else 1 for i in range(x.ndim)]
            layer = active[-1]
            if layer in pre:
                raise RuntimeError(f"layer {layer} ran its activation twice")
            pre[layer] = (x + b.reshape(shape)).detach().clone()
        return original(x, b, dim=dim, **kwargs)

    def enter(layer):
        def hook(mod, args):
            active.append(layer)
        return hook

    def leave(mod, args, out):
        active.pop()

    def block_output(res):
        def hook(mod, args, out):
            feats[res] = out[0].detach().clone()
        return hook

    hooks = []              # (a forward hook that returns something replaces the output: these return None)
    for m, layer in layer_of.items():
        hooks.append(m.register_forward_pre_hook(enter(layer)))
        hooks.append(m.register_forward_hook(leave))
    for res in D.block_resolutions:
        hooks.append(getattr(D, f"b{res}").register_forward_hook(block_output(res)))
    ops_bias_act.bias_act = recording
    try:
        yield pre, feats
    finally:
        ops_bias_act.bias_act = original
        for h in hooks:
            h.remove()


def nvlabs_networks(cfg: dict, dnnlib, augment):
    """``(G, D, G_ema, augment_pipe)`` built as NVlabs' train.py / training_loop.py build them."""
    import torch
    torch.manual_seed(cfg["seed"])
    gen = torch.Generator().manual_seed(cfg["seed"] + 100)
    common = dict(c_dim=cfg["c_dim"], img_resolution=cfg["resolution"], img_channels=3)
    G_kwargs = dnnlib.EasyDict(class_name="training.networks.Generator", z_dim=cfg["z_dim"], w_dim=cfg["w_dim"],
                               mapping_kwargs=dnnlib.EasyDict(num_layers=cfg["mapping_layers"]),
                               synthesis_kwargs=dnnlib.EasyDict(
                                   channel_base=cfg["channel_base"], channel_max=cfg["channel_max"],
                                   num_fp16_res=cfg["num_fp16_res"], conv_clamp=cfg["conv_clamp"],
                                   architecture=cfg["architecture"]))
    D_kwargs = dnnlib.EasyDict(class_name="training.networks.Discriminator", architecture=cfg["d_architecture"],
                               channel_base=cfg["channel_base"], channel_max=cfg["channel_max"],
                               num_fp16_res=cfg["num_fp16_res"], conv_clamp=cfg["conv_clamp"],
                               block_kwargs=dnnlib.EasyDict(), mapping_kwargs=dnnlib.EasyDict(),
                               epilogue_kwargs=dnnlib.EasyDict(mbstd_group_size=4))
    G = dnnlib.util.construct_class_by_name(**G_kwargs, **common).train().requires_grad_(False)
    D = dnnlib.util.construct_class_by_name(**D_kwargs, **common).train().requires_grad_(False)
    randomise(G, gen)
    randomise(D, gen)
    G_ema = copy.deepcopy(G).eval()
    perturb(G, gen)                    # the training G is not the EMA one: the converter must take G_ema
    pipe = None
    if cfg["augment_pipe"]:
        bgc = dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1, brightness=1, contrast=1,
                   lumaflip=1, hue=1, saturation=1)
        pipe = augment.AugmentPipe(**bgc).train().requires_grad_(False)
        pipe.p.copy_(torch.as_tensor(0.2))
    return G, D, G_ema, pipe


def save_nvlabs_snapshot(path: str, cfg: dict, G, D, G_ema, augment_pipe) -> None:
    """As stylegan2-ada-pytorch's training loop writes ``network-snapshot-*.pkl``."""
    training_set_kwargs = dict(class_name="training.dataset.ImageFolderDataset", path="datasets/parity.zip",
                               use_labels=bool(cfg["c_dim"]), max_size=1000, xflip=False,
                               resolution=cfg["resolution"])
    snapshot_data = dict(training_set_kwargs=dict(training_set_kwargs))
    for name, module in [("G", G), ("D", D), ("G_ema", G_ema), ("augment_pipe", augment_pipe)]:
        if module is not None:
            module = copy.deepcopy(module).eval().requires_grad_(False).cpu()
        snapshot_data[name] = module
    with open(path, "wb") as f:
        pickle.dump(snapshot_data, f)


def run_nvlabs(cfg: dict, workdir: str) -> dict:
    import dnnlib
    import torch
    from torch_utils.ops import bias_act
    from training import augment, networks

    t0 = time.perf_counter()
    G, D, G_ema, pipe = nvlabs_networks(cfg, dnnlib, augment)
    path = os.path.join(workdir, f"network-snapshot-{cfg['name']}.pkl")
    save_nvlabs_snapshot(path, cfg, G, D, G_ema, pipe)
    info, gen, disc = convert_and_load(path, os.path.join(workdir, cfg["name"]))

    rng = np.random.default_rng(cfg["seed"])
    z = rng.standard_normal((cfg["batch"], cfg["z_dim"])).astype(np.float32)
    label = cfg.get("label") if cfg["c_dim"] else None
    c = torch.nn.functional.one_hot(torch.full((cfg["batch"],), label), cfg["c_dim"]).float() if cfg["c_dim"] \
        else torch.zeros(cfg["batch"], 0)
    with torch.no_grad():
        G_ref = copy.deepcopy(G_ema)           # hooks on a copy: the pickled network stays untouched
        D_ref = copy.deepcopy(D).eval()
        with nvlabs_recording(G_ref, D_ref, networks, bias_act) as (pre, feats):
            image = G_ref(torch.from_numpy(z), c, noise_mode="const", force_fp32=True)
            logits = D_ref(image, c, force_fp32=True)
        truncated = G_ema(torch.from_numpy(z), c, truncation_psi=cfg["truncation_psi"],
                          truncation_cutoff=cfg["truncation_cutoff"], noise_mode="const", force_fp32=True)
        other = copy.deepcopy(G).eval()(torch.from_numpy(z), c, noise_mode="const", force_fp32=True)
    record = compare_generator(gen, z, image, pre, label)
    record["image_truncated"] = compare_truncated(gen, z, truncated, cfg["truncation_psi"], cfg["truncation_cutoff"],
                                                  label)
    record.update(compare_discriminator(disc, image, feats, logits, c if cfg["c_dim"] else None))
    record["w_avg"] = rel(gen.params["stats"]["w_avg"], G_ema.mapping.w_avg.numpy())
    return {"format": "nvlabs-pickle", "name": cfg["name"], "config": cfg,
            "file": {"name": os.path.basename(path), "bytes": os.path.getsize(path),
                     "pickle_protocol": pickle.DEFAULT_PROTOCOL,
                     "top_level": ["training_set_kwargs", "G", "D", "G_ema", "augment_pipe"],
                     "augment_pipe": None if pipe is None else type(pipe).__name__},
            "converted": converted_summary(info), "max_rel_diff": record, "max": worst(record),
            "control_g_vs_g_ema_image": rel(other, image), "seconds": round(time.perf_counter() - t0, 1)}


# -- rosinality stylegan2-pytorch --------------------------------------------------------------

def rosinality_op_stand_in() -> Dict[str, types.ModuleType]:
    """A pure-PyTorch ``op`` package with the names rosinality's ``model.py`` imports,
    written from the operations' documented semantics (not from rosinality's code)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def fused_leaky_relu(input, bias=None, negative_slope=0.2, scale=2 ** 0.5):
        """``leaky_relu(input + bias) * scale``, the bias along dimension 1."""
        if bias is not None:
            input = input + bias.view(1, -1, *([1] * (input.ndim - 2)))
        return F.leaky_relu(input, negative_slope) * scale

    class FusedLeakyReLU(nn.Module):
        def __init__(self, channel, bias=True, negative_slope=0.2, scale=2 ** 0.5):
            super().__init__()
            self.bias = nn.Parameter(torch.zeros(channel)) if bias else None
            self.negative_slope, self.scale = negative_slope, scale

        def forward(self, input):
            return fused_leaky_relu(input, self.bias, self.negative_slope, self.scale)

    def upfirdn2d(input, kernel, up=1, down=1, pad=(0, 0)):
        """Per channel: insert ``up - 1`` zeros after every sample, pad ``pad[0]``
        before and ``pad[1]`` after on both axes (negative: crop), convolve (a true
        convolution: the kernel flipped), keep every ``down``-th sample."""
        n, c, h, w = input.shape
        x = input.reshape(n * c, 1, h, w)
        if up > 1:
            x = F.pad(x.reshape(n * c, 1, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1])
            x = x.reshape(n * c, 1, h * up, w * up)
        x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
        k = torch.flip(kernel, [0, 1]).to(x.dtype)[None, None]
        x = F.conv2d(x, k)[:, :, ::down, ::down]
        return x.reshape(n, c, x.shape[2], x.shape[3])

    def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        return F.conv2d(input, weight, bias, stride, padding, dilation, groups)

    def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        return F.conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation)

    fused_act = types.ModuleType("op.fused_act")
    fused_act.fused_leaky_relu, fused_act.FusedLeakyReLU = fused_leaky_relu, FusedLeakyReLU
    fir = types.ModuleType("op.upfirdn2d")
    fir.upfirdn2d = upfirdn2d
    gradfix = types.ModuleType("op.conv2d_gradfix")
    gradfix.conv2d, gradfix.conv_transpose2d = conv2d, conv_transpose2d
    op = types.ModuleType("op")
    op.__path__ = []
    op.fused_act, op.conv2d_gradfix = fused_act, gradfix
    op.FusedLeakyReLU, op.fused_leaky_relu, op.upfirdn2d = FusedLeakyReLU, fused_leaky_relu, upfirdn2d
    return {"op": op, "op.fused_act": fused_act, "op.upfirdn2d": fir, "op.conv2d_gradfix": gradfix}


def load_rosinality_model(src: str):
    import importlib.util
    spec = importlib.util.spec_from_file_location("rosinality_model", os.path.join(src, "model.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rosinality_layer(name: str) -> Optional[int]:
    """gbas-jax's layer number of a rosinality generator module name (``conv1`` is
    layer 1, ``convs.j`` layer ``j + 2``), ``None`` for the other modules."""
    if name == "conv1":
        return 1
    m = re.fullmatch(r"convs\.(\d+)", name)
    return int(m.group(1)) + 2 if m else None


@contextlib.contextmanager
def rosinality_recording(g, d=None):
    """Each StyledConv's activation input plus bias (keyed by gbas-jax layer number)
    and each discriminator ResBlock's output (keyed by NVlabs' block resolution)."""
    pre, feats, hooks = {}, {}, []

    def activation_input(layer):
        def hook(mod, args):
            pre[layer] = (args[0] + mod.bias.view(1, -1, 1, 1)).detach().clone()
        return hook

    def block_output(res):
        def hook(mod, args, out):
            feats[res] = out.detach().clone()
        return hook

    for name, m in g.named_modules():
        layer = rosinality_layer(name)
        if layer is not None:
            hooks.append(m.activate.register_forward_pre_hook(activation_input(layer)))
    if d is not None:             # convs.0 is fromRGB, convs.k (k >= 1) the block at size / 2^(k-1)
        for k in range(1, len(d.convs)):
            hooks.append(d.convs[k].register_forward_hook(block_output(g.size // 2 ** (k - 1))))
    try:
        yield pre, feats
    finally:
        for h in hooks:
            h.remove()


def rosinality_training_args(cfg: dict) -> argparse.Namespace:
    """The fields rosinality's train.py puts in ``args`` (its defaults, this size)."""
    return argparse.Namespace(
        path="lmdb", arch="stylegan2", iter=800000, batch=16, n_sample=64, size=cfg["size"], r1=10.0,
        path_regularize=2.0, path_batch_shrink=2, d_reg_every=16, g_reg_every=4, mixing=0.9, ckpt=None, lr=0.002,
        channel_multiplier=cfg["channel_multiplier"], wandb=False, local_rank=0, augment=False, augment_p=0.0,
        ada_target=0.6, ada_length=500000, ada_every=256, distributed=False, latent=cfg["style_dim"],
        n_mlp=cfg["n_mlp"], start_iter=0)


def rosinality_training_step(cfg, g, d):
    """Adam optimisers as rosinality's train.py makes them, after one real step each
    (so their states hold tensors, and ``g`` has moved away from ``g_ema``)."""
    import torch
    import torch.nn.functional as F
    args = rosinality_training_args(cfg)
    g_ratio = args.g_reg_every / (args.g_reg_every + 1)
    d_ratio = args.d_reg_every / (args.d_reg_every + 1)
    g_optim = torch.optim.Adam(g.parameters(), lr=args.lr * g_ratio, betas=(0 ** g_ratio, 0.99 ** g_ratio))
    d_optim = torch.optim.Adam(d.parameters(), lr=args.lr * d_ratio, betas=(0 ** d_ratio, 0.99 ** d_ratio))
    z = torch.randn(2, cfg["style_dim"])
    real = torch.rand(2, 3, cfg["size"], cfg["size"]) * 2 - 1
    fake, _ = g([z])
    d_loss = F.softplus(d(fake.detach())).mean() + F.softplus(-d(real)).mean()
    d_optim.zero_grad()
    d_loss.backward()
    d_optim.step()
    fake, _ = g([z])
    g_loss = F.softplus(-d(fake)).mean()
    g_optim.zero_grad()
    g_loss.backward()
    g_optim.step()
    return g_optim, d_optim, args


def rosinality_checkpoint(path: str, cfg: dict, model) -> dict:
    """Build rosinality's networks and write the checkpoint as its train.py
    (``form="training"``) or convert_weight.py (``"g_ema"``) does; returns the
    networks (``g``, ``g_ema``, ``d`` or None), ``latent_avg`` (or None) and the
    checkpoint's keys."""
    import torch
    torch.manual_seed(cfg["seed"])
    gen = torch.Generator().manual_seed(cfg["seed"] + 100)

    def make():
        return model.Generator(cfg["size"], cfg["style_dim"], cfg["n_mlp"], channel_multiplier=cfg["channel_multiplier"])

    g = make()
    randomise(g, gen)
    g_ema = make()
    g_ema.load_state_dict(g.state_dict())
    g_ema.eval()
    if cfg["form"] == "training":
        d = model.Discriminator(cfg["size"], channel_multiplier=cfg["channel_multiplier"])
        randomise(d, gen)
        g_optim, d_optim, args = rosinality_training_step(cfg, g, d)
        ckpt = {"g": g.state_dict(), "d": d.state_dict(), "g_ema": g_ema.state_dict(),
                "g_optim": g_optim.state_dict(), "d_optim": d_optim.state_dict(), "args": args, "ada_aug_p": 0.0}
        torch.save(ckpt, path)
        return {"g": g.eval(), "g_ema": g_ema, "d": d.eval(), "latent_avg": None, "keys": list(ckpt)}
    with torch.no_grad():
        latent_avg = g_ema.mean_latent(4096)[0]
    torch.save({"g_ema": g_ema.state_dict(), "latent_avg": latent_avg}, path)
    return {"g": None, "g_ema": g_ema, "d": None, "latent_avg": latent_avg, "keys": ["g_ema", "latent_avg"]}


def run_rosinality(cfg: dict, workdir: str, src: str) -> dict:
    import torch

    t0 = time.perf_counter()
    model = load_rosinality_model(src)
    path = os.path.join(workdir, f"{cfg['name']}.pt")
    nets = rosinality_checkpoint(path, cfg, model)
    g_ema, d, latent_avg = nets["g_ema"], nets["d"], nets["latent_avg"]
    info, gen, disc = convert_and_load(path, os.path.join(workdir, cfg["name"]))

    z = torch.from_numpy(
        np.random.default_rng(cfg["seed"]).standard_normal((cfg["batch"], cfg["style_dim"])).astype(np.float32))
    with torch.no_grad():
        with rosinality_recording(g_ema, d) as (pre, feats):
            image, _ = g_ema([z], input_is_latent=False, randomize_noise=False)
            logits = d(image) if d is not None else None
        truncated = None if latent_avg is None else \
            g_ema([z], truncation=cfg["truncation_psi"], truncation_latent=latent_avg, randomize_noise=False)[0]
        other = None if nets["g"] is None else nets["g"]([z], randomize_noise=False)[0]
    record = compare_generator(gen, z.numpy(), image, pre)
    record["image_truncated"] = None if truncated is None else \
        compare_truncated(gen, z.numpy(), truncated, cfg["truncation_psi"], None)
    if d is not None:
        record.update(compare_discriminator(disc, image, feats, logits))
    record["w_avg"] = None if latent_avg is None else rel(gen.params["stats"]["w_avg"], latent_avg.numpy())
    return {"format": "rosinality", "name": cfg["name"], "config": cfg,
            "file": {"name": os.path.basename(path), "bytes": os.path.getsize(path), "top_level": nets["keys"]},
            "converted": converted_summary(info), "max_rel_diff": record, "max": worst(record),
            "control_g_vs_g_ema_image": None if other is None else rel(other, image),
            "seconds": round(time.perf_counter() - t0, 1)}


def check_op_stand_in(nvlabs_upfirdn2d, nvlabs_bias_act) -> dict:
    """The ``op`` stand-in against NVlabs' reference implementations of the same
    operations (the ones rosinality's model uses: up-sampling, blur, down-sampling;
    a random, non-symmetric kernel, so that a missing flip shows)."""
    import torch
    op = rosinality_op_stand_in()["op"]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 9, 9, generator=g)
    k = torch.rand(4, 4, generator=g)
    fir = max(rel(op.upfirdn2d(x, k, up=up, down=down, pad=(p0, p1)),
                  nvlabs_upfirdn2d.upfirdn2d(x, k, up=up, down=down, padding=[p0, p1, p0, p1], impl="ref"))
              for up, down, p0, p1 in [(2, 1, 2, 1), (1, 1, 1, 1), (1, 1, 2, 2), (1, 2, 1, 1), (2, 2, 3, -1)])
    b = torch.randn(3, generator=g)
    act = rel(op.fused_leaky_relu(x, b), nvlabs_bias_act.bias_act(x, b, act="lrelu", impl="ref"))
    return {"upfirdn2d": fir, "fused_leaky_relu": act}


# -- the run ------------------------------------------------------------------------------------

def failures(results: List[dict], stand_in: dict) -> List[dict]:
    """Every figure at or above the tolerance: ``{"name", "figure", "value"}``."""
    out = [{"name": "op stand-in", "figure": k, "value": v} for k, v in stand_in.items() if v >= TOLERANCE]
    for r in results:
        for k, v in r["max_rel_diff"].items():
            values = v.items() if isinstance(v, dict) else [(None, v)]
            for sub, x in values:
                if x is not None and x >= TOLERANCE:
                    out.append({"name": r["name"], "figure": k if sub is None else f"{k}[{sub}]", "value": x})
    return out


def compare(nvlabs: str, rosinality: str, header: dict, log=print) -> dict:
    """Every configuration of both peers; the JSON record (``header``: what
    :func:`benchmarks.common.record_header` gives, its fields put in the record)."""
    import jax

    results: List[dict] = []
    stubs = requests_stub()
    with tempfile.TemporaryDirectory(prefix="gbas-sg2-parity-") as workdir, jax.default_matmul_precision("highest"):
        with imported_from(nvlabs, stubs, ("training", "torch_utils", "dnnlib") + tuple(stubs)):
            from torch_utils.ops import bias_act, upfirdn2d
            stand_in = check_op_stand_in(upfirdn2d, bias_act)
            log(f"rosinality op stand-in against NVlabs' reference ops: {stand_in}")
            for cfg in NVLABS_CONFIGS:
                results.append(run_nvlabs(dict(cfg), workdir))
                log(f"{cfg['name']}: max {results[-1]['max']:.2e} ({results[-1]['seconds']} s)")
        with imported_from(rosinality, rosinality_op_stand_in(), ("op", "rosinality_model")):
            for cfg in ROSINALITY_CONFIGS:
                results.append(run_rosinality(dict(cfg), workdir, rosinality))
                log(f"{cfg['name']}: max {results[-1]['max']:.2e} ({results[-1]['seconds']} s)")
    overall = max([r["max"] for r in results] + list(stand_in.values()))
    per_run = {r["name"]: r["max"] for r in results}
    return {
        "what": "gbas-jax's StyleGAN2 converters against the peers' own code: networks built, saved and run by "
                "NVlabs/stylegan2-ada-pytorch and rosinality/stylegan2-pytorch, converted by converters.convert; "
                "figures are max|a - b| / max|b| (b the peer's output, a gbas-jax's on the converted folder). "
                "control_g_vs_g_ema_image: the same figure between the file's training generator and its EMA "
                "generator (how large a wrong choice would be).",
        "command": header["command"],
        "git_commit": header["git_commit"],
        "machine": header["machine"],
        "peers": {"nvlabs": git_info(nvlabs, NVLABS_REPO), "rosinality": git_info(rosinality, ROSINALITY_REPO)},
        "stand_ins": {"rosinality": "op: pure PyTorch fused_leaky_relu, FusedLeakyReLU, upfirdn2d, "
                                    "conv2d_gradfix.conv2d / conv_transpose2d (written from the documented semantics)",
                      "nvlabs": "none: their ops' own reference implementations on CPU"
                                + ("; requests stubbed (imported for downloads only)" if stubs else "")},
        "stand_in_check": stand_in,
        "versions": {**{k: header["machine"][k] for k in ("python", "torch", "jax")}, "numpy": np.__version__,
                     "backend": header["machine"]["backend"]},
        "tolerance": TOLERANCE,
        "max_per_configuration": per_run,
        "max": overall,
        "passed": overall < TOLERANCE,
        "failures": failures(results, stand_in),
        "results": results,
    }


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("--nvlabs", required=True, help="a checkout of NVlabs/stylegan2-ada-pytorch")
    ap.add_argument("--rosinality", required=True, help="a checkout of rosinality/stylegan2-pytorch")
    ap.add_argument("--out", default=DEFAULT_OUT, help=f"the JSON result (default {DEFAULT_OUT})")
    return ap


def command(args) -> str:
    """The command line that gives ``args`` (``--out`` left out at its default)."""
    words = ["--nvlabs", args.nvlabs, "--rosinality", args.rosinality]
    return PROG + " " + shlex.join(words + ([] if args.out == DEFAULT_OUT else ["--out", args.out]))


def run(args) -> dict:
    """Check the checkouts (a usage error if one lacks its probe file), then
    :func:`compare`: the record."""
    for what, path, probe in (("--nvlabs", args.nvlabs, "training/networks.py"),
                              ("--rosinality", args.rosinality, "model.py")):
        if not os.path.isfile(os.path.join(path, probe)):
            parser().error(f"{what} {path}: no {probe} there")
    return compare(os.path.abspath(args.nvlabs), os.path.abspath(args.rosinality), record_header(command(args)))


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    data = run(args)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_json(args.out, data)
    print(f"{'passed' if data['passed'] else 'FAILED'}: largest relative difference {data['max']:.2e} "
          f"(tolerance {TOLERANCE:g}); wrote {args.out}")
    return 0 if data["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
