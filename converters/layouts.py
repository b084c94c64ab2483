"""State-dict layouts -> gbas-jax architecture specs and Flax variables.

Each ``*_generator`` / ``*_discriminator`` function takes a PyTorch state dict
(numpy arrays) and returns ``(spec, variables, sources)``: the ``architecture.json``
entry, the Flax variable tree and, for every Flax leaf path, the PyTorch key it
came from (so that shape errors can name the key).  Key mappings (PyTorch ->
Flax; conv weights ``W[out, in, kh, kw] -> kernel W.transpose(2, 3, 1, 0)``,
transposed-conv weights ``W[in, out, kh, kw] -> W.transpose(2, 3, 0, 1)[::-1, ::-1]``):

pytorch_GAN_zoo PGAN generator (``.module`` infixes of newer files removed first)
    formatLayer.{weight,bias}          -> linears_0.kernel, bias_0 (NCHW order of
                                          the 4x4 map permuted to NHWC)
    groupScale0.0.{weight,bias}        -> linears_1.kernel, bias_1
    scaleLayers.{i}.{j}.{weight,bias}  -> linears_{2+2i+j}.kernel, bias_{2+2i+j}
    toRGBLayers.{n}.{weight,bias}      -> linears_{2n+2}.kernel, bias_{2n+2}
                                          (the last scale; earlier toRGB unused)
pytorch_GAN_zoo PGAN discriminator
    fromRGBLayers.{n}                  -> from_rgb (earlier fromRGB unused)
    scaleLayers.{i}.{0,1}              -> scale{i+1}_{0,1}
    groupScaleZero.0 / .1              -> scale0_conv / scale0_dense (flatten
                                          order permuted from NCHW to NHWC)
    decisionLayer                      -> decision
GAN-dissection proggan generator
    layer1.conv.weight  [d0, Dz, 4, 4] -> linears_0.kernel (4x4 conv with padding 3
                                          on the 1x1 latent = dense map; kernel flipped)
    layer{n}.conv.weight               -> linears_{n-1}.kernel
    layer{n}.wscale.b                  -> bias_{n-1} (tiled over the 4x4 map for n = 1)
    output_RxR.conv.weight / wscale.b  -> linears_L.kernel, bias_L
    *.wscale.scale (if stored)         -> folded into the kernel as scale / constant
PyTorch-examples DCGAN (``main.N``), Wasserstein-GAN DCGAN (``main.initial:...``)
    first ConvTranspose2d(nz, w, 4, 1, 0) -> linears_0.kernel (a dense map:
                                          ``W.transpose(0, 2, 3, 1).reshape(nz, -1)``)
    later (transposed) convs, in order -> linears_k.kernel
    BatchNorm2d weight/bias            -> norms_k.scale/bias; running_mean/var ->
                                          batch_stats norms_k.mean/var
    discriminator convs / BatchNorms   -> convs_k / norms_{k-1}; last conv -> final
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

import numpy as np

from gbas_jax.models.pggan import PGGANGenerator

from .torch_pickle import CheckpointError

LAYOUTS = ("pggan-zoo", "pggan-dissect", "pggan-genforce", "pggan-interfacegan", "dcgan-examples", "dcgan-wgan",
           "stylegan2")

Sources = Dict[Tuple[str, ...], str]


class Keys:
    """A state dict whose reads are tracked: missing keys and leftovers are errors."""

    def __init__(self, sd: dict, what: str):
        bad = [k for k, v in sd.items() if not isinstance(v, np.ndarray)]
        if bad:
            raise CheckpointError(f"{what}: entry {bad[0]!r} is not a tensor")
        self.sd, self.what, self.used = sd, what, set()

    def __contains__(self, key):
        return key in self.sd

    def get(self, key: str, ndim: Optional[int] = None) -> np.ndarray:
        if key not in self.sd:
            raise CheckpointError(f"{self.what}: missing key {key!r}")
        x = self.sd[key]
        if ndim is not None and x.ndim != ndim:
            raise CheckpointError(f"{self.what}: {key!r} has shape {tuple(x.shape)}, expected {ndim} dimensions")
        self.used.add(key)
        return np.asarray(x, np.float32)

    def finish(self, ignore: str = r"$^"):
        extra = sorted(k for k in self.sd if k not in self.used and not re.fullmatch(ignore, k)
                       and not k.endswith("num_batches_tracked"))
        if extra:
            raise CheckpointError(f"{self.what}: unexpected key {extra[0]!r}"
                                  + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))


def strip_module(sd: dict) -> dict:
    """Drop DataParallel's leading ``module.`` and pytorch_GAN_zoo's ``.module`` infix."""
    out = {}
    for k, v in sd.items():
        k2 = k[len("module."):] if k.startswith("module.") else k
        k2 = k2.replace(".module.", ".")
        if k2 in out:
            raise CheckpointError(f"keys {k!r} and another both map to {k2!r}")
        out[k2] = v
    return out


def _conv(w):
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))


def _convT(w):
    return np.ascontiguousarray(w.transpose(2, 3, 0, 1)[::-1, ::-1])


def _put(tree: dict, sources: Sources, path: Tuple[str, ...], value, key: str):
    node = tree
    for p in path[:-1]:
        node = node.setdefault(p, {})
    node[path[-1]] = value
    sources[path] = key


def _config_get(config, name, default):
    if config is None:
        return default
    if isinstance(config, dict):
        return config.get(name, default)
    return getattr(config, name, default)


def _check_alpha(config):
    alpha = _config_get(config, "alpha", 0.0)
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise CheckpointError(f"config alpha {alpha!r} is not a number") from None
    if alpha > 0:
        raise CheckpointError(f"checkpoint was saved mid fade-in (alpha = {alpha:g}); only finished "
                              "models (alpha = 0) are supported (docs/design.md)")


# -- PGGAN, pytorch_GAN_zoo ---------------------------------------------------------

def zoo_generator(sd: dict, config=None, output_clamp: bool = False):
    _check_alpha(config)
    k = Keys(strip_module(sd), "generator")
    fw = k.get("formatLayer.weight", 2)
    d0, dz = fw.shape[0] // 16, fw.shape[1]
    if fw.shape[0] != 16 * d0:
        raise CheckpointError(f"generator: 'formatLayer.weight' has {fw.shape[0]} outputs, not 16 x depth")
    n = 0
    while f"scaleLayers.{n}.0.weight" in k:
        n += 1
    widths = [d0] + [int(k.sd[f"scaleLayers.{i}.0.weight"].shape[0]) for i in range(n)]
    tree: dict = {"params": {}}
    src: Sources = {}
    P = tree["params"]
    _put(tree, src, ("params", "linears_0", "kernel"),
         fw.reshape(d0, 4, 4, dz).transpose(3, 1, 2, 0).reshape(dz, 16 * d0), "formatLayer.weight")
    _put(tree, src, ("params", "bias_0"),
         k.get("formatLayer.bias", 1).reshape(d0, 4, 4).transpose(1, 2, 0).reshape(-1), "formatLayer.bias")
    names = ["groupScale0.0"] + [f"scaleLayers.{i}.{j}" for i in range(n) for j in (0, 1)] + [f"toRGBLayers.{n}"]
    for idx, name in enumerate(names, start=1):
        _put(tree, src, ("params", f"linears_{idx}", "kernel"), _conv(k.get(name + ".weight", 4)), name + ".weight")
        _put(tree, src, ("params", f"bias_{idx}"), k.get(name + ".bias", 1), name + ".bias")
    channels = int(P[f"bias_{len(names)}"].shape[0])
    k.finish(ignore=r"toRGBLayers\.\d+\.(weight|bias)")
    spec = {"type": "pggan", "layout": "zoo", "latent_dim": int(dz), "resolution": 4 * 2 ** n,
            "channels": channels, "widths": [int(w) for w in widths],
            "equalized": bool(_config_get(config, "equalizedlR", True)),
            "normalization": bool(_config_get(config, "perChannelNormalization", True)),
            "leak": float(_config_get(config, "leakyReluLeak", 0.2)), "output_clamp": bool(output_clamp)}
    return spec, tree, src


def zoo_discriminator(sd: dict, config=None):
    _check_alpha(config)
    k = Keys(strip_module(sd), "discriminator")
    n = 0
    while f"scaleLayers.{n}.0.weight" in k:
        n += 1
    c0 = k.get("groupScaleZero.0.weight", 4)
    d0 = c0.shape[0]
    widths = [int(d0)] + [int(k.sd[f"scaleLayers.{i}.0.weight"].shape[0]) for i in range(n)]
    tree: dict = {"params": {}}
    src: Sources = {}

    def conv(flax_name, torch_name):
        _put(tree, src, ("params", flax_name, "kernel"), _conv(k.get(torch_name + ".weight", 4)), torch_name + ".weight")
        _put(tree, src, ("params", flax_name, "bias"), k.get(torch_name + ".bias", 1), torch_name + ".bias")

    conv("from_rgb", f"fromRGBLayers.{n}")
    for i in range(n):
        conv(f"scale{i + 1}_0", f"scaleLayers.{i}.0")
        conv(f"scale{i + 1}_1", f"scaleLayers.{i}.1")
    conv("scale0_conv", "groupScaleZero.0")
    dw = k.get("groupScaleZero.1.weight", 2)
    if dw.shape[1] != 16 * d0:
        raise CheckpointError(f"discriminator: 'groupScaleZero.1.weight' has shape {dw.shape}, expected (*, {16 * d0})")
    _put(tree, src, ("params", "scale0_dense", "kernel"),
         dw.reshape(dw.shape[0], d0, 4, 4).transpose(2, 3, 1, 0).reshape(16 * d0, dw.shape[0]), "groupScaleZero.1.weight")
    _put(tree, src, ("params", "scale0_dense", "bias"), k.get("groupScaleZero.1.bias", 1), "groupScaleZero.1.bias")
    dec = k.get("decisionLayer.weight", 2)
    _put(tree, src, ("params", "decision", "kernel"), np.ascontiguousarray(dec.T), "decisionLayer.weight")
    _put(tree, src, ("params", "decision", "bias"), k.get("decisionLayer.bias", 1), "decisionLayer.bias")
    k.finish(ignore=r"fromRGBLayers\.\d+\.(weight|bias)")
    spec = {"type": "pggan", "resolution": 4 * 2 ** n,
            "channels": int(tree["params"]["from_rgb"]["kernel"].shape[2]), "widths": widths,
            "minibatch_stddev": bool(c0.shape[1] == d0 + 1), "decision_size": int(dec.shape[0]),
            "equalized": bool(_config_get(config, "equalizedlR", True)),
            "leak": float(_config_get(config, "leakyReluLeak", 0.2))}
    return spec, tree, src


# -- PGGAN, GAN-dissection proggan --------------------------------------------------

def dissect_generator(sd: dict, config=None, output_clamp: bool = False):
    k = Keys(strip_module(sd), "generator")
    L = 0
    while f"layer{L + 1}.conv.weight" in k:
        L += 1
    if L < 2 or L % 2:
        raise CheckpointError(f"generator: expected an even number >= 2 of 'layer{{n}}.conv.weight' keys, found {L}")
    outs = [key for key in k.sd if re.fullmatch(r"output_(\d+)x\1\.conv\.weight", key)]
    if len(outs) != 1:
        raise CheckpointError("generator: expected one 'output_RxR.conv.weight' key, found "
                              + (", ".join(map(repr, outs)) or "none"))
    out = outs[0][: -len(".conv.weight")]
    w1 = k.get("layer1.conv.weight", 4)
    d0, dz = int(w1.shape[0]), int(w1.shape[1])
    widths = [d0] + [int(k.sd[f"layer{2 * s + 1}.conv.weight"].shape[0]) for s in range(1, L // 2)]
    res = 4 * 2 ** (L // 2 - 1)
    if out != f"output_{res}x{res}":
        raise CheckpointError(f"generator: {L} layers make {res}x{res} images, but the output layer is {out!r}")
    channels = int(k.sd[out + ".conv.weight"].shape[0])
    spec = {"type": "pggan", "layout": "dissect", "latent_dim": dz, "resolution": res, "channels": channels,
            "widths": widths, "equalized": True, "normalization": True, "leak": 0.2,
            "output_clamp": bool(output_clamp)}
    module = PGGANGenerator(latent_dim=dz, widths=tuple(widths), channels=channels, layout="dissect")
    tree: dict = {"params": {}}
    src: Sources = {}
    for n in range(1, L + 2):
        name = f"layer{n}" if n <= L else out
        w = k.get(name + ".conv.weight", 4)
        b = k.get(name + ".wscale.b", 1)
        if name + ".wscale.scale" in k:
            stored = float(k.get(name + ".wscale.scale").reshape(-1)[0])
            w = w * (stored / module.weight_scale(n))
        if n == 1:
            kernel = w[:, :, ::-1, ::-1].transpose(1, 2, 3, 0).reshape(dz, 16 * d0)
            b = np.tile(b, 16)
        else:
            kernel = _conv(w)
        _put(tree, src, ("params", f"linears_{n - 1}", "kernel"), np.ascontiguousarray(kernel), name + ".conv.weight")
        _put(tree, src, ("params", f"bias_{n - 1}"), b, name + ".wscale.b")
    k.finish()
    return spec, tree, src


# -- PGGAN, genforce and InterFaceGAN -------------------------------------------------
#
# Both compute GAN dissection's proggan (pixel norm -> [x2 nearest] -> conv with
# gain / sqrt(k^2 C_in) on the weight, unscaled bias -> LReLU 0.2; the to-RGB 1x1
# conv with gain 1), under other names: genforce ``layer{m}.weight`` / ``.bias``,
# InterFaceGAN ``layer{m}.conv.weight`` / ``layer{m}.wscale.bias``; one to-RGB layer
# ``output{b}`` per resolution (the last one is the image at lod 0) and a ``lod``
# entry.  genforce applies the latent's pixel norm twice (PN(PN(z)) = PN(z) to
# float32 precision: |z|^2 / D = 1 after the first).  A fused up-sampling layer
# (``fused_scale``) convolves the 3x3 weight summed over its four shifts as a
# stride-2 transposed conv; that equals x2 nearest up-sampling then a 3x3 conv
# with the weight flipped (genforce's ``(in, out, 3, 3)``, InterFaceGAN's
# ``(3, 3, in, out)``), which is the dissect module's own up-sampling layer.

def _check_lod(k: Keys):
    if "lod" not in k:
        raise CheckpointError(f"{k.what}: no 'lod' entry (a genforce / InterFaceGAN PGGAN has one)")
    lod = float(k.get("lod").reshape(-1)[0])
    if lod != 0.0:
        raise CheckpointError(f"{k.what}: lod = {lod:g}: a checkpoint saved while growing; only finished models "
                              "(lod 0, the final resolution) are supported")


def _proggan_like(k: Keys, weight, bias, fused_weight, fused: bool, fused_kernel, output_clamp: bool, what: str):
    """``weight(m)`` / ``bias(m)``: keys of layer ``m`` (0-based, ``output{b}`` for the
    to-RGB layers via the same functions); ``fused_weight(m)``: the fused layer's key
    and ``fused_kernel(w)`` its Flax kernel."""
    _check_lod(k)
    L = 0
    while weight(f"layer{L}") in k or fused_weight(f"layer{L}") in k:
        L += 1
    if L < 2 or L % 2:
        raise CheckpointError(f"generator: expected an even number >= 2 of {what} layers 'layer{{m}}', found {L}")
    S = L // 2
    w0 = k.get(weight("layer0"), 4)
    d0, dz = int(w0.shape[0]), int(w0.shape[1])
    if w0.shape[2:] != (4, 4):
        raise CheckpointError(f"generator: {weight('layer0')!r} must be a 4x4 kernel, got {tuple(w0.shape)}")
    widths = [d0] + [int(k.sd[weight(f"layer{2 * s + 1}")].shape[0]) for s in range(1, S)
                     if weight(f"layer{2 * s + 1}") in k]
    if len(widths) != S:
        raise CheckpointError(f"generator: a {what} PGGAN of {L} layers lacks a second conv of some resolution")
    out = f"output{S - 1}"
    channels = int(k.get(weight(out), 4).shape[0])
    res = 4 * 2 ** (S - 1)
    tree: dict = {"params": {}}
    src: Sources = {}
    for m in range(L + 1):
        name = f"layer{m}" if m < L else out
        fused_here = m >= 2 and m % 2 == 0 and m < L and (
            fused or (fused_weight(name) != weight(name) and fused_weight(name) in k))
        key = fused_weight(name) if fused_here else weight(name)
        w = k.get(key, 4)
        cin = dz if m == 0 else widths[(m - 1) // 2]
        if fused_here:
            kernel = fused_kernel(w)
        elif m == 0:
            kernel = w[:, :, ::-1, ::-1].transpose(1, 2, 3, 0).reshape(dz, 16 * d0)
        else:
            if w.shape[1] != cin and w.shape[0] == cin and m % 2 == 0:
                raise CheckpointError(f"generator: {key!r} has shape {tuple(w.shape)}: ({cin} inputs first) the "
                                      "weight of a fused up-sampling layer; convert with --fused-scale")
            kernel = _conv(w)
        b = k.get(bias(name), 1)
        _put(tree, src, ("params", f"linears_{m}", "kernel"), np.ascontiguousarray(kernel), key)
        _put(tree, src, ("params", f"bias_{m}"), np.tile(b, 16) if m == 0 else b, bias(name))
    k.finish(ignore=r"output\d+\.(conv\.weight|weight|bias|wscale\.bias)")
    spec = {"type": "pggan", "layout": "dissect", "latent_dim": dz, "resolution": res, "channels": channels,
            "widths": widths, "equalized": True, "normalization": True, "leak": 0.2,
            "output_clamp": bool(output_clamp)}
    return spec, tree, src


def genforce_generator(sd: dict, config=None, output_clamp: bool = False, fused_scale: bool = False):
    """genforce's ``PGGANGenerator`` (model zoo ``generator`` / ``generator_smooth``
    and training checkpoints' ``models``); ``fused_scale`` as it was built (the zoo's
    LSUN / CelebA-HQ models: not fused)."""
    return _proggan_like(Keys(strip_module(sd), "generator"), lambda n: f"{n}.weight", lambda n: f"{n}.bias",
                         lambda n: f"{n}.weight", fused_scale, _convT, output_clamp, "genforce")


def interfacegan_generator(sd: dict, config=None, output_clamp: bool = False, fused_scale: bool = False):
    """InterFaceGAN's ``PGGANGeneratorModel`` state dict (a fused layer stores
    ``layer{m}.weight`` ``(3, 3, in, out)`` in place of ``layer{m}.conv.weight``)."""
    return _proggan_like(Keys(strip_module(sd), "generator"), lambda n: f"{n}.conv.weight",
                         lambda n: f"{n}.wscale.bias", lambda n: f"{n}.weight", False,
                         lambda w: np.ascontiguousarray(w[::-1, ::-1]), output_clamp, "InterFaceGAN")


# -- DCGAN --------------------------------------------------------------------------

def _dcgan_generator_from(seq: List[Tuple[str, str, Optional[str]]], k: Keys):
    """``seq``: (kind, weight key, batchnorm prefix) from first to output layer;
    kind is "convT" or "conv"."""
    if len(seq) < 3 or seq[0][0] != "convT" or seq[-1][0] != "convT":
        raise CheckpointError("generator: expected transposed convs at both ends of the DCGAN stack")
    tree: dict = {"params": {}, "batch_stats": {}}
    src: Sources = {}
    w0 = k.get(seq[0][1], 4)
    nz, c0 = int(w0.shape[0]), int(w0.shape[1])
    if w0.shape[2:] != (4, 4):
        raise CheckpointError(f"generator: {seq[0][1]!r} must be a 4x4 kernel, got {tuple(w0.shape)}")
    _put(tree, src, ("params", "linears_0", "kernel"),
         np.ascontiguousarray(w0.transpose(0, 2, 3, 1).reshape(nz, 16 * c0)), seq[0][1])
    widths, ups = [c0], 1
    for i, (kind, key, bn) in enumerate(seq):
        if i:
            w = k.get(key, 4)
            cin = w.shape[0] if kind == "convT" else w.shape[1]
            if cin != widths[-1]:
                raise CheckpointError(f"generator: {key!r} has shape {tuple(w.shape)}: {cin} input channels, "
                                      f"but the layer before gives {widths[-1]}")
            _put(tree, src, ("params", f"linears_{i}", "kernel"), _convT(w) if kind == "convT" else _conv(w), key)
            if kind == "convT":
                ups += 1
            if i < len(seq) - 1:
                widths.append(int(w.shape[1] if kind == "convT" else w.shape[0]))
        if bn is not None:
            j = i
            _put(tree, src, ("params", f"norms_{j}", "scale"), k.get(bn + ".weight", 1), bn + ".weight")
            _put(tree, src, ("params", f"norms_{j}", "bias"), k.get(bn + ".bias", 1), bn + ".bias")
            _put(tree, src, ("batch_stats", f"norms_{j}", "mean"), k.get(bn + ".running_mean", 1), bn + ".running_mean")
            _put(tree, src, ("batch_stats", f"norms_{j}", "var"), k.get(bn + ".running_var", 1), bn + ".running_var")
    channels = int(k.sd[seq[-1][1]].shape[1])
    k.finish()
    spec = {"type": "dcgan", "latent_dim": nz, "image_size": 4 * 2 ** (ups - 1), "channels": channels,
            "widths": widths}
    return spec, tree, src


def _dcgan_discriminator_from(seq: List[Tuple[str, Optional[str]]], k: Keys):
    """``seq``: (weight key, batchnorm prefix) from the first conv to the final one."""
    tree: dict = {"params": {}, "batch_stats": {}}
    src: Sources = {}
    widths, strided = [], 0
    for i, (key, bn) in enumerate(seq):
        w = k.get(key, 4)
        if widths and w.shape[1] != widths[-1]:
            raise CheckpointError(f"discriminator: {key!r} has shape {tuple(w.shape)}: {w.shape[1]} input "
                                  f"channels, but the layer before gives {widths[-1]}")
        name = "final" if i == len(seq) - 1 else f"convs_{i}"
        _put(tree, src, ("params", name, "kernel"), _conv(w), key)
        if i < len(seq) - 1:
            widths.append(int(w.shape[0]))
            strided += int(w.shape[2] == 4)
        if bn is not None:
            if i == 0 or i == len(seq) - 1:
                raise CheckpointError(f"discriminator: unexpected BatchNorm {bn!r} after the first or last conv")
            j = i - 1
            _put(tree, src, ("params", f"norms_{j}", "scale"), k.get(bn + ".weight", 1), bn + ".weight")
            _put(tree, src, ("params", f"norms_{j}", "bias"), k.get(bn + ".bias", 1), bn + ".bias")
            _put(tree, src, ("batch_stats", f"norms_{j}", "mean"), k.get(bn + ".running_mean", 1), bn + ".running_mean")
            _put(tree, src, ("batch_stats", f"norms_{j}", "var"), k.get(bn + ".running_var", 1), bn + ".running_var")
        elif 0 < i < len(seq) - 1:
            raise CheckpointError(f"discriminator: conv {key!r} has no BatchNorm after it")
    k.finish()
    spec = {"type": "dcgan", "image_size": 4 * 2 ** strided, "channels": int(k.sd[seq[0][0]].shape[1]),
            "widths": widths, "batch_norm": True, "use_bias": False}
    return spec, tree, src


def _main_sequence(k: Keys):
    """Modules of an ``nn.Sequential`` named ``main``, by index: weight keys and BN prefixes."""
    idx = sorted({int(m.group(1)) for key in k.sd if (m := re.fullmatch(r"main\.(\d+)\.\w+", key))})
    convs, bns = [], {}
    for i in idx:
        if f"main.{i}.running_mean" in k:
            bns[len(convs) - 1] = f"main.{i}"
        elif f"main.{i}.weight" in k:
            convs.append(f"main.{i}.weight")
    return convs, bns


def examples_generator(sd: dict, config=None, output_clamp: bool = False):
    k = Keys(strip_module(sd), "generator")
    convs, bns = _main_sequence(k)
    seq = [("convT", key, bns.get(i)) for i, key in enumerate(convs)]
    return _dcgan_generator_from(seq, k)


def examples_discriminator(sd: dict, config=None):
    k = Keys(strip_module(sd), "discriminator")
    convs, bns = _main_sequence(k)
    return _dcgan_discriminator_from([(key, bns.get(i)) for i, key in enumerate(convs)], k)


_WG = re.compile(r"main\.(initial|pyramid|final):(\d+)-(\d+):convt\.weight|main\.extra-layers-(\d+):(\d+):conv\.weight")
_WD = re.compile(r"main\.(initial|pyramid|final):(\d+)-(\d+):conv\.weight|main\.extra-layers-(\d+):(\d+):conv\.weight")


def _wgan_order(k: Keys, pattern, generator: bool):
    items = []
    for key in k.sd:
        m = pattern.fullmatch(key)
        if not m:
            continue
        if m.group(1):
            stage, a, b = m.group(1), int(m.group(2)), int(m.group(3))
            rank = {"initial": 0, "pyramid": 1, "final": 3}[stage]
            # Generator pyramids halve the width, discriminator pyramids double it.
            order = -a if generator else a
            bn = f"main.{stage}:{b}:batchnorm" if stage != "final" else None
        else:
            t, c = int(m.group(4)), int(m.group(5))
            rank, order = 2, t
            bn = f"main.extra-layers-{t}:{c}:batchnorm"
        if not generator and rank == 2:
            rank = 0.5                       # the critic's extras come right after the first conv
        if bn is not None and f"{bn}.running_mean" not in k:
            bn = None
        items.append((rank, order, key, bn))
    # A BatchNorm without its conv means the conv's key is missing: name it.
    attached = {bn for *_, bn in items if bn}
    conv = "convt" if generator else "conv"
    for key in sorted(k.sd):
        m = re.fullmatch(r"main\.(pyramid:(\d+)|extra-layers-(\d+):(\d+)):batchnorm\.running_mean", key)
        if m and key[: -len(".running_mean")] not in attached:
            if m.group(2):
                b = int(m.group(2))
                want = f"main.pyramid:{2 * b if generator else b // 2}-{b}:{conv}.weight"
            else:
                want = f"main.extra-layers-{m.group(3)}:{m.group(4)}:conv.weight"
            raise CheckpointError(f"{k.what}: missing key {want!r}")
    return sorted(items)


def wgan_generator(sd: dict, config=None, output_clamp: bool = False):
    k = Keys(strip_module(sd), "generator")
    seq = [("conv" if "extra-layers" in key else "convT", key, bn) for _, _, key, bn in _wgan_order(k, _WG, True)]
    return _dcgan_generator_from(seq, k)


def wgan_discriminator(sd: dict, config=None):
    k = Keys(strip_module(sd), "discriminator")
    return _dcgan_discriminator_from([(key, bn) for _, _, key, bn in _wgan_order(k, _WD, False)], k)


def _stylegan2_generator(sd, config=None, **options):
    from . import stylegan2
    try:
        return stylegan2.layout_generator(strip_module(sd), config, **options)
    except stylegan2.StyleGAN2Error as e:
        raise CheckpointError(f"stylegan2: {e}") from None


GENERATORS = {"pggan-zoo": zoo_generator, "pggan-dissect": dissect_generator,
              "pggan-genforce": genforce_generator, "pggan-interfacegan": interfacegan_generator,
              "dcgan-examples": examples_generator, "dcgan-wgan": wgan_generator,
              "stylegan2": _stylegan2_generator}
#: The options each layout's generator function takes (``convert``'s keyword arguments).
OPTIONS = {"pggan-zoo": ("output_clamp",), "pggan-dissect": ("output_clamp",),
           "pggan-genforce": ("output_clamp", "fused_scale"), "pggan-interfacegan": ("output_clamp",),
           "dcgan-examples": ("output_clamp",), "dcgan-wgan": ("output_clamp",),
           "stylegan2": ("conv_clamp", "mapping_lr", "space", "noise_mode")}
def _stylegan2_discriminator(sd, config=None, **options):
    from . import stylegan2
    try:
        return stylegan2.layout_discriminator(strip_module(sd), config, **options)
    except stylegan2.StyleGAN2Error as e:
        raise CheckpointError(f"stylegan2 discriminator: {e}") from None


DISCRIMINATORS = {"pggan-zoo": zoo_discriminator, "dcgan-examples": examples_discriminator,
                  "dcgan-wgan": wgan_discriminator, "stylegan2": _stylegan2_discriminator}


def detect(sd: dict) -> str:
    """The layout of a generator state dict, from its key names."""
    keys = set(strip_module(sd))
    if any(key.startswith("formatLayer.") for key in keys):
        return "pggan-zoo"
    if "layer0.conv.weight" in keys and "layer0.wscale.bias" in keys:
        return "pggan-interfacegan"
    if "layer0.weight" in keys and "output0.weight" in keys and "lod" in keys:
        return "pggan-genforce"
    if "layer1.conv.weight" in keys:
        return "pggan-dissect"
    if any(_WG.fullmatch(key) for key in keys):
        return "dcgan-wgan"
    if "main.0.weight" in keys:
        return "dcgan-examples"
    if "mapping.fc0.weight" in keys and "synthesis.b4.const" in keys:
        return "stylegan2"
    sample = ", ".join(sorted(keys)[:4])
    raise CheckpointError(f"unknown layout (keys {sample}{', ...' if len(keys) > 4 else ''}); "
                          f"pass --format, one of {LAYOUTS}")
