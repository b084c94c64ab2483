"""The project's model folders: an orbax checkpoint per network plus a small JSON.

Layout of a model folder::

    architecture.json     {"format": "gbas-jax/1",
                           "generator":     {"type": "dcgan", ...settings...},
                           "discriminator": {"type": "dcgan", ...} or null,
                           "training":      {...free-form provenance...}}
    generator/            orbax checkpoint of the generator's variables
    discriminator/        orbax checkpoint of the discriminator's variables (optional)

``generator.type`` names a builder in :data:`GENERATOR_BUILDERS` that turns the
settings into a Flax module; the checkpoint is restored against that module's
abstract variables, so shapes are checked on load.  Models never read files:
loading lives here.  Shipped models are folders inside ``gbas_jax/pretrained``.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, Optional

import jax
import jax.numpy as jnp

from ._io import atomic_folder
from .discriminator import Discriminator, FlaxDiscriminatorModel
from .generator import FlaxModel, Generator

FORMAT = "gbas-jax/1"
PRETRAINED_DIR = os.path.join(os.path.dirname(__file__), "pretrained")
#: Names of the models shipped inside the package.
PRETRAINED = ("dcgan-mnist", "dcgan-mnist-2d")


def _dcgan_generator(spec):
    from .models.dcgan import DCGANGenerator, _check_widths
    return DCGANGenerator(latent_dim=int(spec["latent_dim"]), image_size=int(spec["image_size"]),
                          channels=int(spec["channels"]),
                          widths=_check_widths(int(spec["image_size"]), spec["widths"]))


def _dcgan_discriminator(spec):
    from .models.dcgan import DCGANDiscriminator, _check_widths
    return DCGANDiscriminator(image_size=int(spec["image_size"]), channels=int(spec["channels"]),
                              widths=_check_widths(int(spec["image_size"]), spec["widths"]),
                              batch_norm=bool(spec.get("batch_norm", False)),
                              use_bias=bool(spec.get("use_bias", True)))


def _pggan_generator(spec):
    from .models.pggan import PGGANGenerator, _check_widths
    return PGGANGenerator(latent_dim=int(spec["latent_dim"]), channels=int(spec["channels"]),
                          widths=_check_widths(int(spec["resolution"]), spec["widths"]),
                          layout=str(spec.get("layout", "zoo")), equalized=bool(spec.get("equalized", True)),
                          normalization=bool(spec.get("normalization", True)),
                          leak=float(spec.get("leak", 0.2)), output_clamp=bool(spec.get("output_clamp", False)))


def _pggan_discriminator(spec):
    from .models.pggan import PGGANDiscriminator, _check_widths
    return PGGANDiscriminator(widths=_check_widths(int(spec["resolution"]), spec["widths"]),
                              channels=int(spec["channels"]),
                              minibatch_stddev=bool(spec.get("minibatch_stddev", True)),
                              decision_size=int(spec.get("decision_size", 1)),
                              equalized=bool(spec.get("equalized", True)), leak=float(spec.get("leak", 0.2)))


#: ``type -> (spec dict -> linen module)``; converters register more architectures here.
GENERATOR_BUILDERS: Dict[str, Callable[[dict], Any]] = {"dcgan": _dcgan_generator, "pggan": _pggan_generator}
DISCRIMINATOR_BUILDERS: Dict[str, Callable[[dict], Any]] = {"dcgan": _dcgan_discriminator,
                                                            "pggan": _pggan_discriminator}


def _image_size(spec):
    return int(spec.get("image_size", spec.get("resolution", 0)))


def resolve(name_or_path: str) -> str:
    """Folder of a shipped model name, or the given folder; ``ValueError`` if neither."""
    if name_or_path in PRETRAINED:
        path = os.path.join(PRETRAINED_DIR, name_or_path)
        if not os.path.isdir(path):
            raise ValueError(f"shipped model {name_or_path!r} is missing from {PRETRAINED_DIR}")
        return path
    path = os.path.abspath(os.path.expanduser(str(name_or_path)))
    if not os.path.isfile(os.path.join(path, "architecture.json")):
        raise ValueError(f"{name_or_path!r} is neither a shipped model {PRETRAINED} nor a folder "
                         "with an architecture.json")
    return path


def read_architecture(name_or_path: str) -> dict:
    path = resolve(name_or_path)
    with open(os.path.join(path, "architecture.json")) as f:
        arch = json.load(f)
    if arch.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown format {arch.get('format')!r} (expected {FORMAT!r})")
    return arch


def _abstract(module, example):
    shapes = jax.eval_shape(lambda x: module.init(jax.random.key(0), x), example)
    return jax.tree_util.tree_map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype), shapes)


def _restore(path, abstract):
    import orbax.checkpoint as ocp
    return ocp.StandardCheckpointer().restore(path, abstract)


def _builder(table, spec, what):
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind not in table:
        raise ValueError(f"unknown {what} type {kind!r}; known: {sorted(table)}")
    return table[kind](spec)


def load_pretrained(name_or_path: str = "dcgan-mnist") -> Generator:
    """A :class:`~gbas_jax.Generator` from a shipped name (:data:`PRETRAINED`) or a
    model folder (for example one written by ``python -m converters``)."""
    arch = read_architecture(name_or_path)
    module = _builder(GENERATOR_BUILDERS, arch.get("generator"), "generator")
    abstract = dict(_abstract(module, jnp.zeros((1, module.latent_dim))))
    variables = _restore(os.path.join(resolve(name_or_path), "generator"), abstract)
    return Generator(FlaxModel(module), variables)


def load_discriminator(name_or_path: str = "dcgan-mnist") -> Discriminator:
    """The matching discriminator (``ValueError`` if the folder has none)."""
    arch = read_architecture(name_or_path)
    spec = arch.get("discriminator")
    if not spec:
        raise ValueError(f"{name_or_path!r} has no discriminator")
    module = _builder(DISCRIMINATOR_BUILDERS, spec, "discriminator")
    s = _image_size(spec)
    abstract = dict(_abstract(module, jnp.zeros((1, s, s, int(spec["channels"])))))
    params = _restore(os.path.join(resolve(name_or_path), "discriminator"), abstract)
    return Discriminator(FlaxDiscriminatorModel(module), params)


def save_model(path: str, *, generator_spec: dict, generator_variables: Any,
               discriminator_spec: Optional[dict] = None, discriminator_variables: Any = None,
               extra: Optional[dict] = None, overwrite: bool = False) -> str:
    """Write a model folder atomically (see :func:`gbas_jax._io.atomic_folder`)."""
    import orbax.checkpoint as ocp

    path = os.path.abspath(path)
    for what, tree in (("generator", generator_variables),
                       ("discriminator", discriminator_variables if discriminator_spec is not None else {})):
        leaves = jax.tree_util.tree_leaves(tree)
        if (what == "generator" and not leaves) or not all(hasattr(x, "shape") and hasattr(x, "dtype") for x in leaves):
            raise ValueError(f"{what} variables must be a non-empty pytree of arrays")
    ck = ocp.StandardCheckpointer()
    with atomic_folder(path, overwrite=overwrite, cleanup=ck.wait_until_finished) as tmp:
        ck.save(os.path.join(tmp, "generator"), jax.device_get(generator_variables))
        if discriminator_spec is not None:
            ck.save(os.path.join(tmp, "discriminator"), jax.device_get(discriminator_variables))
        ck.wait_until_finished()
        # orbax's marker names the temporary folder of this machine; keep it neutral.
        for sub in ("generator", "discriminator"):
            marker = os.path.join(tmp, sub, "commit_success.txt")
            if os.path.exists(marker):
                with open(marker, "w") as f:
                    f.write("Checkpoint commit was successful\n")
        arch = {"format": FORMAT, "generator": generator_spec, "discriminator": discriminator_spec,
                **(extra or {})}
        with open(os.path.join(tmp, "architecture.json"), "w") as f:
            json.dump(arch, f, indent=2)
    return path
