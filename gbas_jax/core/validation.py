"""Checks of user input, run in Python before anything is traced."""

from __future__ import annotations

import math

import numpy as np
import jax


def positive_int(value, name: str) -> int:
    """``value`` as an int ``>= 1`` (bools and floats refused), else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def finite_number(value, name: str, lo=None, hi=None, lo_open: bool = False, hi_open: bool = False) -> float:
    """``value`` as a finite float within the given bounds, else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise ValueError(f"{name} must be {'>' if lo_open else '>='} {lo}, got {value!r}")
    if hi is not None and (value >= hi if hi_open else value > hi):
        raise ValueError(f"{name} must be {'<' if hi_open else '<='} {hi}, got {value!r}")
    return float(value)


def is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def check_layer(gen, layer) -> int:
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
        raise ValueError(f"layer must be a Python int, got {type(layer).__name__}")
    if not 1 <= int(layer) <= gen.num_layers:
        raise ValueError(f"layer must be in 1..{gen.num_layers} for this generator, got {layer}")
    return int(layer)


def check_interval(gen, cfg) -> None:
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
