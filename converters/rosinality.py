"""rosinality/stylegan2-pytorch checkpoints -> the stylegan2-ada-pytorch key names
that :mod:`converters.stylegan2` reads.

Two forms: the official conversions' ``{"g_ema", "latent_avg"}`` and training
checkpoints ``{"g", "d", "g_ema", "g_optim", "d_optim", "args", ...}`` (``args`` an
``argparse.Namespace``, read as a plain record).  ``g_ema`` is the generator,
``latent_avg`` its ``w_avg`` (the truncation centre), ``d`` the discriminator.

The two implementations compute the same network (the same convolution
conventions, up-sampling geometry and FIR filter), with one difference: rosinality's
modulated convolutions scale the stored weight by ``1 / sqrt(C_in k^2)`` before
modulating it, NVIDIA's do not, so the weight is scaled here (demodulation makes
the two agree but for its epsilon; toRGB, not demodulated, scales by the same
factor in both).  Key mapping (``j`` = 0, 1, ...; ``r = 2^(j+3)``)::

    style.{k+1}.{weight,bias}           mapping.fc{k}.*          (k = 0 .. n_mlp - 1)
    input.input [1, C, 4, 4]            synthesis.b4.const
    conv1.conv.weight [1, O, I, 3, 3]   synthesis.b4.conv1.weight (times the scale)
    conv1.conv.modulation.*             synthesis.b4.conv1.affine.*
    conv1.noise.weight [1]              synthesis.b4.conv1.noise_strength
    conv1.activate.bias                 synthesis.b4.conv1.bias
    noises.noise_0 [1, 1, 4, 4]         synthesis.b4.conv1.noise_const
    to_rgb1.*                           synthesis.b4.torgb.* (bias [1, 3, 1, 1] -> [3])
    convs.{2j}.* / noises.noise_{2j+1}  synthesis.b{r}.conv0.*
    convs.{2j+1}.* / noises.noise_{2j+2} synthesis.b{r}.conv1.*
    to_rgbs.{j}.*                       synthesis.b{r}.torgb.*
    latent_avg                          mapping.w_avg

    discriminator: convs.0.{0.weight,1.bias}   b{R}.fromrgb.*
    convs.{k}.conv1.{0.weight,1.bias}           b{R/2^(k-1)}.conv0.*
    convs.{k}.conv2.{1.weight,2.bias}           b{R/2^(k-1)}.conv1.*
    convs.{k}.skip.1.weight                     b{R/2^(k-1)}.skip.weight
    final_conv.{0.weight,1.bias}                b4.conv.*
    final_linear.{0,1}.{weight,bias}            b4.fc.*, b4.out.*

SWAGAN checkpoints (wavelet toRGB, ``iwt`` / ``dwt`` buffers) are refused.
"""

from __future__ import annotations

import math
import re
from typing import Dict, Optional

import numpy as np

from .torch_pickle import CheckpointError


def is_rosinality(sd: Dict[str, np.ndarray]) -> bool:
    return isinstance(sd, dict) and "input.input" in sd and "to_rgb1.conv.weight" in sd


def _swagan(sd) -> bool:
    rgb = sd.get("to_rgb1.conv.weight")
    return any(k.startswith(("iwt.", "dwt.")) or ".iwt." in k or ".dwt." in k for k in sd) or \
        (rgb is not None and rgb.shape[1] == 12)


def _layer(sd, src, dst, out, noise=None):
    w = np.asarray(sd[f"{src}.conv.weight"], np.float32)[0]                   # (O, I, k, k)
    scale = 1.0 / math.sqrt(w.shape[1] * w.shape[2] * w.shape[3])
    out[f"{dst}.weight"] = w * scale
    out[f"{dst}.affine.weight"] = np.asarray(sd[f"{src}.conv.modulation.weight"], np.float32)
    out[f"{dst}.affine.bias"] = np.asarray(sd[f"{src}.conv.modulation.bias"], np.float32)
    out[f"{dst}.noise_strength"] = np.asarray(sd[f"{src}.noise.weight"], np.float32).reshape(())
    out[f"{dst}.bias"] = np.asarray(sd[f"{src}.activate.bias"], np.float32)
    if noise is not None:
        if noise not in sd:
            raise CheckpointError(f"rosinality generator: {noise} is missing (checkpoints before January 2020 "
                                  "keep no noise maps; gbas-jax needs constant noise)")
        out[f"{dst}.noise_const"] = np.asarray(sd[noise], np.float32)[0, 0]


def _torgb(sd, src, dst, out):
    out[f"{dst}.weight"] = np.asarray(sd[f"{src}.conv.weight"], np.float32)[0]    # (3, C, 1, 1): same factor
    out[f"{dst}.bias"] = np.asarray(sd[f"{src}.bias"], np.float32).reshape(-1)
    out[f"{dst}.affine.weight"] = np.asarray(sd[f"{src}.conv.modulation.weight"], np.float32)
    out[f"{dst}.affine.bias"] = np.asarray(sd[f"{src}.conv.modulation.bias"], np.float32)


def generator_state_dict(sd: Dict[str, np.ndarray], latent_avg=None) -> Dict[str, np.ndarray]:
    """A rosinality generator state dict under NVIDIA's key names (numpy)."""
    if _swagan(sd):
        raise CheckpointError("a SWAGAN checkpoint (wavelet toRGB layers): gbas-jax reads StyleGAN2 only")
    try:
        out: Dict[str, np.ndarray] = {}
        styles = sorted(int(m.group(1)) for k in sd if (m := re.match(r"^style\.(\d+)\.weight$", k)))
        for i, k in enumerate(styles):
            out[f"mapping.fc{i}.weight"] = np.asarray(sd[f"style.{k}.weight"], np.float32)
            out[f"mapping.fc{i}.bias"] = np.asarray(sd[f"style.{k}.bias"], np.float32)
        out["synthesis.b4.const"] = np.asarray(sd["input.input"], np.float32)[0]
        _layer(sd, "conv1", "synthesis.b4.conv1", out, "noises.noise_0")
        _torgb(sd, "to_rgb1", "synthesis.b4.torgb", out)
        j = 0
        while f"to_rgbs.{j}.conv.weight" in sd:
            r = 2 ** (j + 3)
            _layer(sd, f"convs.{2 * j}", f"synthesis.b{r}.conv0", out, f"noises.noise_{2 * j + 1}")
            _layer(sd, f"convs.{2 * j + 1}", f"synthesis.b{r}.conv1", out, f"noises.noise_{2 * j + 2}")
            _torgb(sd, f"to_rgbs.{j}", f"synthesis.b{r}.torgb", out)
            j += 1
    except KeyError as e:
        raise CheckpointError(f"rosinality generator: missing key {e.args[0]!r}") from None
    if latent_avg is not None:
        out["mapping.w_avg"] = np.asarray(latent_avg, np.float32).reshape(-1)
    return out


def discriminator_state_dict(sd: Dict[str, np.ndarray], resolution: int) -> Dict[str, np.ndarray]:
    """A rosinality discriminator state dict under NVIDIA's key names."""
    if _swagan(sd) or any(k.startswith("from_rgbs.") for k in sd):
        raise CheckpointError("a SWAGAN discriminator: gbas-jax reads StyleGAN2 only")
    try:
        out = {f"b{resolution}.fromrgb.weight": sd["convs.0.0.weight"], f"b{resolution}.fromrgb.bias": sd["convs.0.1.bias"]}
        k, r = 1, resolution
        while f"convs.{k}.conv1.0.weight" in sd:
            out[f"b{r}.conv0.weight"] = sd[f"convs.{k}.conv1.0.weight"]
            out[f"b{r}.conv0.bias"] = sd[f"convs.{k}.conv1.1.bias"]
            out[f"b{r}.conv1.weight"] = sd[f"convs.{k}.conv2.1.weight"]
            out[f"b{r}.conv1.bias"] = sd[f"convs.{k}.conv2.2.bias"]
            out[f"b{r}.skip.weight"] = sd[f"convs.{k}.skip.1.weight"]
            k, r = k + 1, r // 2
        out.update({"b4.conv.weight": sd["final_conv.0.weight"], "b4.conv.bias": sd["final_conv.1.bias"],
                    "b4.fc.weight": sd["final_linear.0.weight"], "b4.fc.bias": sd["final_linear.0.bias"],
                    "b4.out.weight": sd["final_linear.1.weight"], "b4.out.bias": sd["final_linear.1.bias"]})
    except KeyError as e:
        raise CheckpointError(f"rosinality discriminator: missing key {e.args[0]!r}") from None
    if r != 4:
        raise CheckpointError(f"rosinality discriminator: its blocks end at {r}x{r}, not 4x4")
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


def split(obj) -> Optional[dict]:
    """``{"generator", "discriminator", "taken", "skipped"}`` of a rosinality
    checkpoint dict (state dicts under NVIDIA's names), or ``None`` if it is not one."""
    if not isinstance(obj, dict):
        return None
    key = "g_ema" if is_rosinality(obj.get("g_ema")) else ("g" if is_rosinality(obj.get("g")) else None)
    if key is None:
        return None
    gsd = generator_state_dict(obj[key], obj.get("latent_avg"))
    res = 4 * 2 ** sum(1 for k in gsd if k.endswith(".torgb.bias") and not k.startswith("synthesis.b4."))
    dsd = discriminator_state_dict(obj["d"], res) if isinstance(obj.get("d"), dict) else None
    return {"generator": gsd, "discriminator": dsd, "taken": key + (" and d" if dsd is not None else ""),
            "skipped": sorted(k for k in obj if k not in (key, "d", "latent_avg"))}
