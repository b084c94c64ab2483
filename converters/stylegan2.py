"""StyleGAN2 state dicts (stylegan2-ada-pytorch's key names) -> gbas-jax's Flax
StyleGAN2 (:mod:`gbas_jax.models.stylegan2`).

:func:`generator_spec` infers the architecture from the weights' names and shapes
(mapping depth, label count, resolution, channels, ``orig`` / ``skip`` / ``resnet``,
noise); what a state dict does not carry (``conv_clamp``, the mapping's
learning-rate multiplier) comes from the caller.  :func:`generator_variables`
moves every weight to the Flax layout (HWIO convolutions, ``(in, out)`` dense
kernels, NHWC constant) and fills the ``stats`` collection: ``w_avg`` from the
file, the W space's mean and standard deviation measured on the converted model
(:func:`gbas_jax.models.stylegan2.measure_w_statistics`).
"""

from __future__ import annotations

import math
import re
from typing import Dict, Optional, Tuple

import numpy as np

from gbas_jax.models.stylegan2 import FIR, channels

PREFIX_FC = re.compile(r"^mapping\.fc(\d+)\.weight$")
PREFIX_BLOCK = re.compile(r"^synthesis\.b(\d+)\.")


class StyleGAN2Error(ValueError):
    """A state dict that is not a StyleGAN2 this converter knows."""


def _get(sd: Dict[str, np.ndarray], key: str) -> np.ndarray:
    if key not in sd:
        raise StyleGAN2Error(f"missing key {key!r}")
    return np.asarray(sd[key], np.float32)


def generator_spec(sd: Dict[str, np.ndarray], *, conv_clamp: Optional[float] = None,
                   mapping_lr: float = 0.01) -> dict:
    """The ``architecture.json`` generator entry of a StyleGAN2 state dict."""
    fcs = sorted(int(m.group(1)) for k in sd if (m := PREFIX_FC.match(k)))
    if not fcs or fcs != list(range(len(fcs))):
        raise StyleGAN2Error("no mapping.fc0 .. fcN weights")
    resolutions = sorted({int(m.group(1)) for k in sd if (m := PREFIX_BLOCK.match(k))})
    if not resolutions or resolutions[0] != 4 or resolutions != [4 * 2 ** i for i in range(len(resolutions))]:
        raise StyleGAN2Error(f"synthesis blocks must be b4, b8, ..., found {resolutions}")
    res = resolutions[-1]
    w_dim = _get(sd, f"mapping.fc{fcs[-1]}.weight").shape[0]
    c_dim = _get(sd, "mapping.embed.weight").shape[1] if "mapping.embed.weight" in sd else 0
    embed = _get(sd, "mapping.embed.weight").shape[0] if c_dim else 0
    z_dim = _get(sd, "mapping.fc0.weight").shape[1] - embed
    chans = {4: _get(sd, "synthesis.b4.const").shape[0]}
    for r in resolutions[1:]:
        chans[r] = _get(sd, f"synthesis.b{r}.conv1.weight").shape[0]
    cmax = max(chans.values())
    below = [r for r in resolutions if chans[r] < cmax]
    base = chans[below[0]] * below[0] if below else cmax * res
    if any(channels(r, base, cmax) != c for r, c in chans.items()):
        raise StyleGAN2Error(f"channels per resolution {chans} follow no min(base // r, max) rule")
    if any(f"synthesis.b{r}.skip.weight" in sd for r in resolutions):
        arch = "resnet"
    elif all(f"synthesis.b{r}.torgb.weight" in sd for r in resolutions):
        arch = "skip"
    else:
        arch = "orig"
    img_channels = _get(sd, f"synthesis.b{res}.torgb.weight").shape[0]
    hidden = _get(sd, "mapping.fc0.weight").shape[0]
    return {"type": "stylegan2", "z_dim": int(z_dim), "w_dim": int(w_dim), "c_dim": int(c_dim),
            "resolution": int(res), "img_channels": int(img_channels), "channel_base": int(base),
            "channel_max": int(cmax), "mapping_layers": len(fcs), "mapping_lr": float(mapping_lr),
            "embed_features": int(embed) if c_dim and embed != w_dim else None,
            "layer_features": int(hidden) if len(fcs) > 1 and hidden != w_dim else None,
            "architecture": arch, "conv_clamp": conv_clamp,
            "use_noise": "synthesis.b4.conv1.noise_const" in sd}


def _dense(sd, prefix) -> dict:
    return {"weight": _get(sd, prefix + ".weight").T, "bias": _get(sd, prefix + ".bias")}


def _modconv(sd, prefix, use_noise: bool) -> dict:
    out = {"weight": _get(sd, prefix + ".weight").transpose(2, 3, 1, 0), "bias": _get(sd, prefix + ".bias"),
           "affine": _dense(sd, prefix + ".affine")}
    if use_noise:
        out["noise_strength"] = _get(sd, prefix + ".noise_strength").reshape(())
        out["noise_const"] = _get(sd, prefix + ".noise_const")
    if prefix + ".resample_filter" in sd and not np.allclose(_get(sd, prefix + ".resample_filter"), FIR):
        raise StyleGAN2Error(f"{prefix}.resample_filter is not the [1, 3, 3, 1] filter")
    return out


def generator_params(sd: Dict[str, np.ndarray], spec: dict) -> Tuple[dict, dict]:
    """``(params, stats)`` collections of the Flax module for ``spec``."""
    params = {f"mapping_fc{i}": _dense(sd, f"mapping.fc{i}") for i in range(spec["mapping_layers"])}
    if spec["c_dim"]:
        params["mapping_embed"] = _dense(sd, "mapping.embed")
    params["b4_const"] = _get(sd, "synthesis.b4.const").transpose(1, 2, 0)
    res = spec["resolution"]
    for k in range(int(math.log2(res)) - 1):
        r = 4 * 2 ** k
        for conv in (("conv1",) if r == 4 else ("conv0", "conv1")):
            params[f"b{r}_{conv}"] = _modconv(sd, f"synthesis.b{r}.{conv}", spec["use_noise"])
        if spec["architecture"] == "skip" or r == res:
            p = f"synthesis.b{r}.torgb"
            params[f"b{r}_torgb"] = {"weight": _get(sd, p + ".weight")[:, :, 0, 0].T, "bias": _get(sd, p + ".bias"),
                                     "affine": _dense(sd, p + ".affine")}
        if spec["architecture"] == "resnet" and r > 4:
            params[f"b{r}_skip"] = {"weight": _get(sd, f"synthesis.b{r}.skip.weight")[:, :, 0, 0].T}
    w_avg = _get(sd, "mapping.w_avg") if "mapping.w_avg" in sd else np.zeros(spec["w_dim"], np.float32)  # see generator
    return params, {"w_avg": w_avg}


def generator(sd: Dict[str, np.ndarray], *, conv_clamp: Optional[float] = None, mapping_lr: float = 0.01,
              w_statistics_samples: Optional[int] = None):
    """``(spec, Generator)`` of a StyleGAN2 state dict (the W statistics measured on it)."""
    from gbas_jax.models import registry
    from gbas_jax.models.stylegan2 import W_STATISTICS_SAMPLES, from_params

    spec = generator_spec(sd, conv_clamp=conv_clamp, mapping_lr=mapping_lr)
    params, stats = generator_params(sd, spec)
    module = registry.generator_module(spec)
    gen = from_params(module, params, stats["w_avg"], w_statistics_samples=w_statistics_samples or W_STATISTICS_SAMPLES)
    if "mapping.w_avg" not in sd:           # (a rosinality training checkpoint): the mean mapped w
        gen = type(gen)(gen.model, {**gen.params, "stats": {**gen.params["stats"],
                                                             "w_avg": gen.params["stats"]["w_mean"]}})
    return spec, gen


def layout_generator(sd: Dict[str, np.ndarray], config=None, *, conv_clamp: Optional[float] = None,
                     mapping_lr: float = 0.01, space: str = "z", noise_mode: str = "const"):
    """The converters' layout function: ``(spec, variables, sources)`` of a StyleGAN2
    state dict with stylegan2-ada-pytorch's key names; ``space`` and ``noise_mode``
    are recorded as the model folder's default view."""
    from gbas_jax.models.stylegan2 import SPACES

    if space not in SPACES:
        raise StyleGAN2Error(f"space must be one of {SPACES}, got {space!r}")
    spec, gen = generator(sd, conv_clamp=conv_clamp, mapping_lr=mapping_lr)
    spec = {**spec, "space": space, "noise_mode": noise_mode}
    sources = {}
    for path, _ in _flat(gen.params):
        sources[path] = _source_key(path)
    return spec, gen.params, sources


def _flat(tree, prefix=()):
    for k, v in tree.items():
        if isinstance(v, dict):
            yield from _flat(v, prefix + (k,))
        else:
            yield prefix + (k,), v


def _source_key(path: Tuple[str, ...]) -> str:
    """The state-dict key a Flax leaf came from (for error messages)."""
    if path[0] != "params":
        return {"w_avg": "mapping.w_avg"}.get(path[-1], "/".join(path))
    head, rest = path[1], path[2:]
    if head.startswith("mapping_"):
        return "mapping." + head[len("mapping_"):] + "." + ".".join(rest)
    if head == "b4_const":
        return "synthesis.b4.const"
    block, layer = head.split("_", 1)
    return f"synthesis.{block}.{layer}." + ".".join(rest)


# -- the discriminator ------------------------------------------------------------------------

PREFIX_DBLOCK = re.compile(r"^b(\d+)\.")


def discriminator_spec(sd: Dict[str, np.ndarray], *, conv_clamp: Optional[float] = None,
                       mbstd_group_size: int = 4) -> dict:
    """The ``architecture.json`` discriminator entry of a StyleGAN2 discriminator state dict."""
    blocks = sorted({int(m.group(1)) for k in sd if (m := PREFIX_DBLOCK.match(k))})
    if not blocks or blocks[0] != 4 or blocks != [4 * 2 ** i for i in range(len(blocks))]:
        raise StyleGAN2Error(f"discriminator blocks must be b4, b8, ..., found {blocks}")
    res = blocks[-1]
    chans = {r: _get(sd, f"b{r}.conv0.weight").shape[0] for r in blocks[1:]}
    chans[4] = _get(sd, "b4.conv.weight").shape[0]
    cmax = max(chans.values())
    below = [r for r in sorted(chans) if chans[r] < cmax]
    base = chans[below[0]] * below[0] if below else cmax * res
    if any(channels(r, base, cmax) != c for r, c in chans.items()):
        raise StyleGAN2Error(f"discriminator channels {chans} follow no min(base // r, max) rule")
    if any(f"b{r}.skip.weight" in sd for r in blocks[1:]):
        arch = "resnet"
    elif all(f"b{r}.fromrgb.weight" in sd for r in blocks):
        arch = "skip"
    else:
        arch = "orig"
    c_dim = _get(sd, "mapping.embed.weight").shape[1] if "mapping.embed.weight" in sd else 0
    fcs = sorted(int(m.group(1)) for k in sd if (m := PREFIX_FC.match(k)))
    return {"type": "stylegan2", "resolution": int(res),
            "img_channels": int(_get(sd, f"b{res}.fromrgb.weight").shape[1]), "c_dim": int(c_dim),
            "channel_base": int(base), "channel_max": int(cmax), "architecture": arch, "conv_clamp": conv_clamp,
            "mbstd_group_size": int(mbstd_group_size),
            "mbstd_num_channels": int(_get(sd, "b4.conv.weight").shape[1] - chans[4]),
            "cmap_dim": int(_get(sd, "b4.out.weight").shape[0]) if c_dim else None,
            "mapping_layers": len(fcs) if c_dim else 8}


def _conv(sd, prefix, bias=True) -> dict:
    out = {"weight": _get(sd, prefix + ".weight").transpose(2, 3, 1, 0)}
    if bias:
        out["bias"] = _get(sd, prefix + ".bias")
    return out


def discriminator_params(sd: Dict[str, np.ndarray], spec: dict) -> dict:
    """The Flax ``params`` of :class:`gbas_jax.models.stylegan2_discriminator.StyleGAN2Discriminator`."""
    params = {}
    res = spec["resolution"]
    for i, r in enumerate([2 ** k for k in range(int(math.log2(res)), 2, -1)]):
        if i == 0 or spec["architecture"] == "skip":
            params[f"b{r}_fromrgb"] = _conv(sd, f"b{r}.fromrgb")
        params[f"b{r}_conv0"] = _conv(sd, f"b{r}.conv0")
        params[f"b{r}_conv1"] = _conv(sd, f"b{r}.conv1")
        if spec["architecture"] == "resnet":
            params[f"b{r}_skip"] = _conv(sd, f"b{r}.skip", bias=False)
    if spec["architecture"] == "skip":
        params["b4_fromrgb"] = _conv(sd, "b4.fromrgb")
    params["b4_conv"] = _conv(sd, "b4.conv")
    params["b4_fc"] = _dense(sd, "b4.fc")
    params["b4_out"] = _dense(sd, "b4.out")
    if spec["c_dim"]:
        params["mapping_embed"] = _dense(sd, "mapping.embed")
        for i in range(spec["mapping_layers"]):
            params[f"mapping_fc{i}"] = _dense(sd, f"mapping.fc{i}")
    return params


def layout_discriminator(sd: Dict[str, np.ndarray], config=None, *, conv_clamp: Optional[float] = None, **unused):
    """The converters' layout function for a StyleGAN2 discriminator state dict."""
    spec = discriminator_spec(sd, conv_clamp=conv_clamp)
    params = discriminator_params(sd, spec)
    sources = {("params", k, leaf): f"{k.replace('_', '.', 1)}.{leaf}" for k, v in params.items() for leaf in v}
    return spec, {"params": params}, sources
