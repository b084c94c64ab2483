"""Checks of user input, run in Python before anything is traced."""

from __future__ import annotations

import numpy as np
import jax

from .config import EGBASConfig


def is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def check_layer(gen, layer) -> int:
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
        raise ValueError(f"layer must be a Python int, got {type(layer).__name__}")
    if not 1 <= int(layer) <= gen.num_layers:
        raise ValueError(f"layer must be in 1..{gen.num_layers} for this generator, got {layer}")
    return int(layer)


def check_config(cfg) -> EGBASConfig:
    if not isinstance(cfg, EGBASConfig):
        raise ValueError(f"cfg must be an EGBASConfig, got {type(cfg).__name__}")
    return cfg


def check_interval(gen, cfg: EGBASConfig) -> None:
    if isinstance(cfg.interval, tuple) and len(cfg.interval) != gen.latent_dim:
        raise ValueError(f"EGBASConfig.interval has {len(cfg.interval)} entries; "
                         f"the latent has {gen.latent_dim} dimensions")


def check_latents(gen, z, *, batched: bool, name: str = "z0"):
    """Shape ``(Dz,)`` (``batched=False``) or ``(B, Dz)``, float, finite."""
    shape = np.shape(z)
    want = "(B, %d)" % gen.latent_dim if batched else "(%d,)" % gen.latent_dim
    ok = (len(shape) == 2 and shape[0] >= 1) if batched else len(shape) == 1
    if not ok or shape[-1] != gen.latent_dim:
        raise ValueError(f"{name} must have shape {want}, got {shape}")
    if is_concrete(z) and not np.all(np.isfinite(np.asarray(z))):
        raise ValueError(f"{name} must be finite (it contains NaN or inf)")


def check_threshold(p) -> float:
    if is_concrete(p):
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"threshold p must be in [0, 1], got {p}")
    return p


def check_indicator(gen, layer, V):
    if np.ndim(V) != 1 or np.shape(V)[0] != gen.layer_size(layer):
        raise ValueError(f"indicator must have shape ({gen.layer_size(layer)},) for layer {layer}, "
                         f"got {np.shape(V)}")
