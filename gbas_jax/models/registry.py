"""From an architecture entry (a JSON-able dict with a ``"type"``) to a model.

``architecture.json`` names each network by ``type`` plus its settings; the
builders here turn such a spec into a Flax module, its abstract variables and
finally a :class:`~gbas_jax.Generator` / :class:`~gbas_jax.Discriminator`.
Checkpoint folders (:mod:`gbas_jax.io.checkpoint`) and the converters go through
these functions only.
"""

from __future__ import annotations

from typing import Any, Callable, Dict

import jax
import jax.numpy as jnp

from ..core.discriminator import Discriminator
from ..core.model import Generator
from .adapters import FlaxDiscriminatorModel, FlaxModel
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .dcgan import check_widths as dcgan_widths
from .pggan import PGGANDiscriminator, PGGANGenerator
from .pggan import check_widths as pggan_widths
from .sequential import SequentialGenerator, op_tuple
from .stylegan2 import StyleGAN2Generator
from .stylegan2_discriminator import StyleGAN2Discriminator


def _dcgan_generator(spec):
    condition = spec.get("condition")
    if condition is not None and (not isinstance(condition, dict) or condition.get("type") != "one-hot-concat"
                                  or not isinstance(condition.get("dims"), int) or condition["dims"] < 1):
        raise ValueError(f"dcgan condition must be {{\"type\": \"one-hot-concat\", \"dims\": N >= 1}}, "
                         f"got {condition!r}")
    return DCGANGenerator(latent_dim=int(spec["latent_dim"]), image_size=int(spec["image_size"]),
                          channels=int(spec["channels"]),
                          widths=dcgan_widths(int(spec["image_size"]), spec["widths"]),
                          condition_dims=int(condition["dims"]) if condition else 0)


def _dcgan_discriminator(spec):
    return DCGANDiscriminator(image_size=int(spec["image_size"]), channels=int(spec["channels"]),
                              widths=dcgan_widths(int(spec["image_size"]), spec["widths"]),
                              batch_norm=bool(spec.get("batch_norm", False)),
                              use_bias=bool(spec.get("use_bias", True)))


def _pggan_generator(spec):
    return PGGANGenerator(latent_dim=int(spec["latent_dim"]), channels=int(spec["channels"]),
                          widths=pggan_widths(int(spec["resolution"]), spec["widths"]),
                          layout=str(spec.get("layout", "zoo")), equalized=bool(spec.get("equalized", True)),
                          normalization=bool(spec.get("normalization", True)),
                          leak=float(spec.get("leak", 0.2)), output_clamp=bool(spec.get("output_clamp", False)))


def _pggan_discriminator(spec):
    return PGGANDiscriminator(widths=pggan_widths(int(spec["resolution"]), spec["widths"]),
                              channels=int(spec["channels"]),
                              minibatch_stddev=bool(spec.get("minibatch_stddev", True)),
                              decision_size=int(spec.get("decision_size", 1)),
                              equalized=bool(spec.get("equalized", True)), leak=float(spec.get("leak", 0.2)))


#: The settings of a ``stylegan2`` entry (:class:`~gbas_jax.models.stylegan2.StyleGAN2Generator`
#: fields; ``space`` and ``noise_mode`` are the folder's default view).
STYLEGAN2_FIELDS = ("z_dim", "w_dim", "c_dim", "resolution", "img_channels", "channel_base", "channel_max",
                    "mapping_layers", "mapping_lr", "embed_features", "layer_features", "architecture",
                    "conv_clamp", "use_noise", "noise_mode", "space", "truncation_psi", "truncation_cutoff")


def _stylegan2_generator(spec):
    unknown = sorted(set(spec) - set(STYLEGAN2_FIELDS) - {"type"})
    if unknown:
        raise ValueError(f"unknown stylegan2 settings {unknown}")
    return StyleGAN2Generator(**{k: spec[k] for k in STYLEGAN2_FIELDS if k in spec})


STYLEGAN2_D_FIELDS = ("resolution", "img_channels", "c_dim", "channel_base", "channel_max", "architecture",
                      "conv_clamp", "mbstd_group_size", "mbstd_num_channels", "cmap_dim", "mapping_layers")


def _stylegan2_discriminator(spec):
    unknown = sorted(set(spec) - set(STYLEGAN2_D_FIELDS) - {"type"})
    if unknown:
        raise ValueError(f"unknown stylegan2 discriminator settings {unknown}")
    return StyleGAN2Discriminator(**{k: spec[k] for k in STYLEGAN2_D_FIELDS if k in spec})


def _sequential_generator(spec):
    ops = spec["ops"]
    if not isinstance(ops, list) or not ops or not all(isinstance(o, dict) for o in ops):
        raise ValueError(f"sequential ops must be a non-empty list of op entries, got {ops!r}")
    return SequentialGenerator(latent_dim=int(spec["latent_dim"]), ops=tuple(op_tuple(o) for o in ops))


#: ``type -> (spec dict -> linen module)``.
GENERATORS: Dict[str, Callable[[dict], Any]] = {"dcgan": _dcgan_generator, "pggan": _pggan_generator,
                                                "stylegan2": _stylegan2_generator,
                                                "sequential": _sequential_generator}
DISCRIMINATORS: Dict[str, Callable[[dict], Any]] = {"dcgan": _dcgan_discriminator, "pggan": _pggan_discriminator,
                                                    "stylegan2": _stylegan2_discriminator}


def _module(table, spec, what):
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind not in table:
        raise ValueError(f"unknown {what} type {kind!r}; known: {sorted(table)}")
    try:
        return table[kind](spec)
    except (KeyError, TypeError) as e:      # a missing or mistyped setting
        raise ValueError(f"{what} entry of type {kind!r} is incomplete or malformed ({e!r})") from None


def generator_module(spec: dict):
    """The linen module of a generator entry (``ValueError`` if unknown or malformed)."""
    return _module(GENERATORS, spec, "generator")


def discriminator_module(spec: dict):
    """The linen module of a discriminator entry."""
    return _module(DISCRIMINATORS, spec, "discriminator")


def example_input(spec: dict, what: str) -> jax.ShapeDtypeStruct:
    """A batch-of-one input of the network: a latent, or an image."""
    if what == "generator":
        return jax.ShapeDtypeStruct((1, int(spec["latent_dim"] if "latent_dim" in spec else spec["z_dim"])),
                                    jnp.float32)
    s = int(spec.get("image_size", spec.get("resolution", 0)))
    return jax.ShapeDtypeStruct((1, s, s, int(spec["channels"] if "channels" in spec else spec["img_channels"])),
                                jnp.float32)


def abstract_variables(module, example) -> dict:
    """The module's variables as ``ShapeDtypeStruct`` leaves (nothing computed).  A
    StyleGAN2 is initialised in its Z view, which runs (and so creates) every layer."""
    if isinstance(module, StyleGAN2Generator):
        module = module.clone(space="z", freeze_above=0)
    if isinstance(module, StyleGAN2Discriminator) and module.c_dim:
        c = jnp.zeros((1, module.c_dim), jnp.float32)
        shapes = jax.eval_shape(lambda x: module.init(jax.random.key(0), x, c), example)
    else:
        shapes = jax.eval_shape(lambda x: module.init(jax.random.key(0), x), example)
    return dict(jax.tree_util.tree_map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype), shapes))


def make_generator(module, variables) -> Generator:
    return Generator(FlaxModel(module), variables)


def make_discriminator(module, variables) -> Discriminator:
    return Discriminator(FlaxDiscriminatorModel(module), variables)
