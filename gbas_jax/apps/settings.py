"""Which E-GBAS settings a job runs with, and where each came from: the one place
that decides, for every command.

Precedence, highest first:

1. a command-line flag (``--ber-lambda 0.3``), or the caller's own
   :class:`~gbas_jax.EGBASConfig` when a job is called from Python;
2. a job preset the user asked for (``reproduce --quick``);
3. the model's recommendation: ``architecture.json`` may carry
   ``"recommended": {"egbas": {field: value, ...}, "why": "..."}`` (the shipped
   models do; a converted folder has none until you add it), and for a model with
   more than one latent space ``"spaces": {"w": {"egbas": {...}}}``, whose fields
   override ``egbas`` in that space;
4. the library default (:class:`~gbas_jax.EGBASConfig`).

:func:`resolve` returns the config and the source of every value that differs
from the library default; jobs print that line and store it in their record.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, NamedTuple, Optional, Union

from ..core.config import EGBASConfig, check_config
from ..io.checkpoint import ModelFolder

FIELDS = tuple(f.name for f in dataclasses.fields(EGBASConfig))


class Settings(NamedTuple):
    config: EGBASConfig
    sources: Dict[str, str]     # field -> "command line" | "caller" | preset name | "model" (non-default only)

    def describe(self) -> str:
        """One line: every non-default value with its source, or that the library
        defaults are used."""
        if not self.sources:
            return "settings: library defaults"
        parts = [f"{k}={getattr(self.config, k)!r} ({src})" for k, src in self.sources.items()]
        return "settings: " + ", ".join(parts) + "; the rest library defaults"

    def as_record(self) -> dict:
        return {"config": dataclasses.asdict(self.config), "sources": dict(self.sources)}


def recommended(arch: dict, label: str = "architecture.json", space: Optional[str] = None) -> Dict[str, object]:
    """The model's recommended :class:`EGBASConfig` fields in ``space`` (``{}`` if
    none); ``ValueError`` naming ``label`` for unknown fields or invalid values."""
    rec = arch.get("recommended")
    if rec is None:
        return {}
    if not isinstance(rec, dict) or not isinstance(rec.get("egbas", {}), dict) \
            or not isinstance(rec.get("spaces", {}), dict):
        raise ValueError(f"{label}: 'recommended' must be {{\"egbas\": {{field: value}}, "
                         "\"spaces\": {space: {\"egbas\": {field: value}}}}")
    fields = dict(rec.get("egbas", {}))
    per_space = rec.get("spaces", {}).get(space) if space is not None else None
    if per_space is not None:
        if not isinstance(per_space, dict) or not isinstance(per_space.get("egbas", {}), dict):
            raise ValueError(f"{label}: recommended settings of space {space!r} must be {{\"egbas\": {{...}}}}")
        fields.update(per_space.get("egbas", {}))
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ValueError(f"{label}: recommended settings name unknown EGBASConfig fields {unknown}")
    if isinstance(fields.get("interval"), list):
        fields["interval"] = tuple(fields["interval"])
    try:
        EGBASConfig(**fields)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{label}: invalid recommended settings ({e})") from None
    return fields


def resolve(model: Optional[ModelFolder], flags: Dict[str, object], preset: Optional[Dict[str, object]] = None,
            preset_name: str = "preset", flags_source: str = "command line", space: Optional[str] = None) -> Settings:
    """The config from the four layers of the module docstring.  ``flags`` holds
    only the fields the user gave (``flags_source`` names where they came from);
    ``space``: the latent space the job runs in (default: the model's own)."""
    arch, label = (model.architecture, model.label) if model is not None else ({}, "architecture.json")
    if space is None and model is not None:
        space = getattr(model.module, "space", "z")
    layers = [("model", recommended(arch, label, space)), (preset_name, dict(preset or {})),
              (flags_source, dict(flags))]
    values: Dict[str, object] = {}
    sources: Dict[str, str] = {}
    for source, fields in layers:               # later layers win
        for k, v in fields.items():
            values[k] = v
            sources[k] = source
    cfg = EGBASConfig(**values)
    default = EGBASConfig()
    sources = {k: sources[k] for k in FIELDS if k in sources and getattr(cfg, k) != getattr(default, k)}
    return Settings(cfg, sources)


def for_job(model: Optional[ModelFolder], cfg: Union[None, EGBASConfig, Settings],
            space: Optional[str] = None) -> Settings:
    """A job's settings from what its caller passed: :class:`Settings` as they are;
    an :class:`EGBASConfig` as the caller's (every non-default field counted as
    given by the caller); ``None``: the model's recommendation over the library
    defaults, as a command without flags gets."""
    if isinstance(cfg, Settings):
        return cfg
    if cfg is None:
        return resolve(model, {}, space=space)
    cfg = check_config(cfg)
    default = EGBASConfig()
    return Settings(cfg, {f: "caller" for f in FIELDS if getattr(cfg, f) != getattr(default, f)})


def from_record(record: dict) -> Settings:
    """The settings a record stored (its ``config`` and ``config_sources``)."""
    cfg = EGBASConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in record["config"].items()})
    return Settings(cfg, record.get("config_sources", {}))
