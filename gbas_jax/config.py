"""Settings of one E-GBAS run: a frozen, hashable dataclass (static under ``jit``)."""

from __future__ import annotations

import dataclasses
import math
from typing import Literal, Tuple, Union

RELAXATIONS = ("concrete", "straight_through")


@dataclasses.dataclass(frozen=True)
class EGBASConfig:
    """All settings of BerOpt (Algorithm 1) and GB-RRT (Algorithm 2).

    The instance is hashable, so it is passed to the jitted stages as a static
    argument: two equal configs share compiled programs.  Every field is checked
    in ``__post_init__`` with a plain :class:`ValueError`.

    BerOpt
        ``ber_steps``: hard cap on optimiser steps.
        ``ber_tol``: relative loss change below which BerOpt stops early; the
        change is measured between the mean losses of two consecutive windows of
        ``ber_window`` steps. ``0`` means run exactly ``ber_steps`` steps.
        ``ber_lr``: Adam learning rate on the logits of theta.
        ``ber_lambda``: weight of the sparsity term ``lambda * mean(theta)``.
        ``ber_samples``: masks ``S`` averaged per step.
        ``relaxation``: ``"concrete"`` (binary concrete) or ``"straight_through"``.
        ``temperature``: temperature of the concrete relaxation.
        ``ber_init``: initial keep-probability of every unit (above ``threshold``).
        ``threshold``: ``p``; a unit is kept when ``theta > p``.

    GB-RRT
        ``capacity``: ``N``, number of tree nodes (samples) including the query.
        ``proposals``: ``K``, uniform proposals per iteration.
        ``max_iterations``: hard cap on iterations.
        ``step_size``: ``delta``, the steering step and the minimum spacing.
        ``interval``: ``I``, half-side of the proposal box around ``z0``; a float,
        or a tuple with one entry per latent dimension.
        ``reject_capacity``: ``M``, stored rejected candidates (first M kept).
        ``region_path``: how GB-RRT tests membership: ``"full"`` computes the whole
        layer; ``"kept"`` only the kept units (:mod:`gbas_jax.kept`; the buffers are
        sized after one host synchronisation to the next power of two); ``"auto"``
        (default) takes the kept path at dense layers, and at conv layers when it
        saves more than 32x the multiply-adds (``gbas_jax.kept.choose_path``).
    """

    # BerOpt
    ber_steps: int = 300
    ber_tol: float = 1e-3
    ber_window: int = 25
    ber_lr: float = 0.1
    ber_lambda: float = 0.1
    ber_samples: int = 8
    relaxation: Literal["concrete", "straight_through"] = "concrete"
    temperature: float = 0.1
    ber_init: float = 0.9
    threshold: float = 0.5
    # GB-RRT
    capacity: int = 500
    proposals: int = 32
    max_iterations: int = 2000
    step_size: float = 0.5
    interval: Union[float, Tuple[float, ...]] = 2.0
    reject_capacity: int = 1024
    region_path: Literal["auto", "kept", "full"] = "auto"

    def __post_init__(self):
        def positive_int(name):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"EGBASConfig.{name} must be an integer >= 1, got {v!r}")

        def finite(name, lo=None, hi=None, lo_open=False, hi_open=False):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"EGBASConfig.{name} must be a finite number, got {v!r}")
            if lo is not None and (v <= lo if lo_open else v < lo):
                raise ValueError(f"EGBASConfig.{name} must be {'>' if lo_open else '>='} {lo}, got {v!r}")
            if hi is not None and (v >= hi if hi_open else v > hi):
                raise ValueError(f"EGBASConfig.{name} must be {'<' if hi_open else '<='} {hi}, got {v!r}")

        for name in ("ber_steps", "ber_window", "ber_samples", "capacity", "proposals",
                     "max_iterations", "reject_capacity"):
            positive_int(name)
        finite("ber_tol", lo=0.0)
        finite("ber_lr", lo=0.0, lo_open=True)
        finite("ber_lambda", lo=0.0)
        finite("temperature", lo=0.0, lo_open=True)
        finite("ber_init", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
        finite("threshold", lo=0.0, hi=1.0)
        finite("step_size", lo=0.0, lo_open=True)
        if self.region_path not in ("auto", "kept", "full"):
            raise ValueError(f"EGBASConfig.region_path must be 'auto', 'kept' or 'full', got {self.region_path!r}")
        if self.relaxation not in RELAXATIONS:
            raise ValueError(f"EGBASConfig.relaxation must be one of {RELAXATIONS}, got {self.relaxation!r}")
        if isinstance(self.interval, (list, tuple)):
            if len(self.interval) == 0:
                raise ValueError("EGBASConfig.interval must not be an empty tuple")
            vals = tuple(float(v) for v in self.interval)
            if not all(math.isfinite(v) and v > 0 for v in vals):
                raise ValueError(f"EGBASConfig.interval entries must be finite and > 0, got {self.interval!r}")
            object.__setattr__(self, "interval", vals)  # lists are unhashable
        else:
            finite("interval", lo=0.0, lo_open=True)
        if self.ber_init <= self.threshold:
            raise ValueError(
                f"EGBASConfig.ber_init ({self.ber_init}) must be above threshold ({self.threshold}): "
                "a unit should be dropped only when the optimisation pushes it down")

    def replace(self, **changes) -> "EGBASConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)
