"""Settings of one E-GBAS run: a frozen, hashable dataclass (static under ``jit``).

Each field carries its documentation in ``metadata["help"]``: the class docstring,
:func:`describe` and the generated command-line flags all read it from there.
"""

# No ``from __future__ import annotations``: the generated command line reads the
# field types (``Literal`` choices, the ``interval`` union) at run time.
import dataclasses
from typing import Literal, Tuple, Union, get_args

from .precision import PRECISIONS
from .validation import finite_number, positive_int

RELAXATIONS = ("concrete", "straight_through")
REGION_PATHS = ("auto", "kept", "full")
UNITS = ("element", "channel")


def _field(default, help: str, group: str):
    return dataclasses.field(default=default, metadata={"help": help, "group": group})


@dataclasses.dataclass(frozen=True)
class EGBASConfig:
    """All settings of BerOpt (Algorithm 1) and GB-RRT (Algorithm 2).

    The instance is hashable, so it is passed to the jitted stages as a static
    argument: two equal configs share compiled programs.  Every field is checked
    in ``__post_init__`` with a plain :class:`ValueError`.
    """

    # BerOpt
    ber_steps: int = _field(2000, "hard cap on BerOpt optimiser steps (it usually stops itself after 550-800)",
                            "BerOpt")
    ber_tol: float = _field(
        1e-3, "relative change of the hard objective J between checks below which a check is stable; "
              "0 runs exactly ber_steps steps", "BerOpt")
    ber_window: int = _field(75, "BerOpt has converged when the checks of the last ber_window steps were all "
                                 "stable", "BerOpt")
    ber_check: int = _field(25, "steps between checks of the hard mask 1[theta > p] and its objective J",
                            "BerOpt")
    ber_flip_tol: float = _field(5e-4, "fraction of units that may cross the threshold between two checks of a "
                                       "stable stretch", "BerOpt")
    ber_lr: float = _field(0.3, "Adam learning rate on the logits of theta", "BerOpt")
    ber_lr_hold: int = _field(400, "steps at ber_lr before the learning rate decays", "BerOpt")
    ber_lr_decay: float = _field(50.0, "time constant (steps) of the exponential decay of the learning rate "
                                       "after ber_lr_hold; 0 keeps it constant", "BerOpt")
    ber_b1: float = _field(0.5, "Adam's first-moment decay", "BerOpt")
    ber_b2: float = _field(0.9, "Adam's second-moment decay (0.999, Adam's usual value, remembers the large "
                                "first gradients for ~1000 steps and stalls BerOpt)", "BerOpt")
    ber_lambda: float = _field(0.1, "weight lambda of the sparsity term lambda * mean(theta)", "BerOpt")
    ber_samples: int = _field(1, "masks S averaged per step", "BerOpt")
    relaxation: Literal["concrete", "straight_through"] = _field(
        "concrete", "relaxation of the Bernoulli masks: binary concrete or straight-through", "BerOpt")
    temperature: float = _field(0.7, "temperature of the concrete relaxation", "BerOpt")
    ber_init: float = _field(0.55, "initial keep-probability of every unit (above threshold)", "BerOpt")
    threshold: float = _field(0.5, "p: a unit is kept when theta > p", "BerOpt")
    units: Literal["element", "channel"] = _field(
        "element", "what BerOpt keeps or drops: element (the paper's single activations) or channel (one "
                   "keep-probability per channel of the layer, shared by its positions; a kept channel constrains "
                   "every unit of it, inactive ones included)", "BerOpt")
    ber_precision: Literal["auto", "float32", "tf32", "bfloat16"] = _field(
        "auto", "precision of BerOpt's decoder passes (the region test is always float32): auto is float32 on a "
                "CPU and tf32 on accelerators", "BerOpt")
    # GB-RRT
    capacity: int = _field(500, "N: tree nodes (samples) including the query", "GB-RRT")
    proposals: int = _field(32, "K: uniform proposals per iteration", "GB-RRT")
    max_iterations: int = _field(2000, "hard cap on GB-RRT iterations", "GB-RRT")
    step_size: float = _field(0.5, "delta: the steering step and the minimum spacing of samples", "GB-RRT")
    interval: Union[float, Tuple[float, ...]] = _field(
        2.0, "I: half-side of the proposal box around z0; one number, or one per latent dimension", "GB-RRT")
    reject_capacity: int = _field(1024, "M: stored rejected candidates (the first M are kept; the calibration of "
                                        "the baselines uses all of them regardless)", "GB-RRT")
    region_path: Literal["auto", "kept", "full"] = _field(
        "auto", "membership test: full computes the whole layer, kept only the kept units "
                "(buffers sized after one host synchronisation), auto takes kept at dense layers and "
                "where a cost model measured offline says it is cheaper (kept.min_mac_ratio)", "GB-RRT")

    def __post_init__(self):
        for name in ("ber_steps", "ber_window", "ber_check", "ber_samples", "capacity", "proposals",
                     "max_iterations", "reject_capacity"):
            positive_int(getattr(self, name), f"EGBASConfig.{name}")

        def finite(name, **bounds):
            finite_number(getattr(self, name), f"EGBASConfig.{name}", **bounds)

        finite("ber_tol", lo=0.0)
        finite("ber_flip_tol", lo=0.0, hi=1.0)
        finite("ber_lr", lo=0.0, lo_open=True)
        finite("ber_lr_decay", lo=0.0)
        finite("ber_b1", lo=0.0, hi=1.0, hi_open=True)
        finite("ber_b2", lo=0.0, hi=1.0, hi_open=True)
        if isinstance(self.ber_lr_hold, bool) or not isinstance(self.ber_lr_hold, int) or self.ber_lr_hold < 0:
            raise ValueError(f"EGBASConfig.ber_lr_hold must be an integer >= 0, got {self.ber_lr_hold!r}")
        if self.ber_check > self.ber_window:
            raise ValueError(f"EGBASConfig.ber_check ({self.ber_check}) must not exceed ber_window "
                             f"({self.ber_window}): the window spans at least one check")
        if self.ber_tol > 0 and self.ber_window > self.ber_steps:
            raise ValueError(f"EGBASConfig.ber_window ({self.ber_window}) is larger than the cap ber_steps "
                             f"({self.ber_steps}): BerOpt could never converge; lower ber_window or set ber_tol=0")
        finite("ber_lambda", lo=0.0)
        finite("temperature", lo=0.0, lo_open=True)
        finite("ber_init", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
        finite("threshold", lo=0.0, hi=1.0)
        finite("step_size", lo=0.0, lo_open=True)
        if self.region_path not in REGION_PATHS:
            raise ValueError(f"EGBASConfig.region_path must be one of {REGION_PATHS}, got {self.region_path!r}")
        if self.ber_precision not in PRECISIONS:
            raise ValueError(f"EGBASConfig.ber_precision must be one of {PRECISIONS}, got {self.ber_precision!r}")
        if self.units not in UNITS:
            raise ValueError(f"EGBASConfig.units must be one of {UNITS}, got {self.units!r}")
        if self.relaxation not in RELAXATIONS:
            raise ValueError(f"EGBASConfig.relaxation must be one of {RELAXATIONS}, got {self.relaxation!r}")
        if isinstance(self.interval, (list, tuple)):
            if len(self.interval) == 0:
                raise ValueError("EGBASConfig.interval must not be an empty tuple")
            vals = tuple(finite_number(v, "EGBASConfig.interval entries", lo=0.0, lo_open=True)
                         for v in self.interval)
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


def check_config(cfg) -> EGBASConfig:
    """``cfg`` if it is an :class:`EGBASConfig`, else ``ValueError``."""
    if not isinstance(cfg, EGBASConfig):
        raise ValueError(f"cfg must be an EGBASConfig, got {type(cfg).__name__}")
    return cfg


def choices(field: dataclasses.Field) -> Tuple:
    """The allowed values of a ``Literal`` field (empty for other fields)."""
    return get_args(field.type) if getattr(field.type, "__origin__", None) is Literal else ()


def describe() -> str:
    """One line per field: name, default and meaning, grouped by stage."""
    lines, group = [], None
    for f in dataclasses.fields(EGBASConfig):
        if f.metadata["group"] != group:
            group = f.metadata["group"]
            lines.append(f"{group}")
        lines.append(f"    ``{f.name}`` (default ``{f.default!r}``): {f.metadata['help']}.")
    return "\n".join(lines)


EGBASConfig.__doc__ += "\n    Fields:\n\n    " + describe().replace("\n", "\n    ") + "\n"
