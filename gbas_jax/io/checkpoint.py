"""The project's model folders: an orbax checkpoint per network plus a small JSON.

Layout of a model folder::

    architecture.json     {"format": "gbas-jax/1",
                           "generator":     {"type": "dcgan", ...settings...},
                           "discriminator": {"type": "dcgan", ...} or null,
                           "training":      {...free-form provenance...}}
    generator/            orbax checkpoint of the generator's variables
    discriminator/        orbax checkpoint of the discriminator's variables (optional)

``generator.type`` names a builder of :mod:`gbas_jax.models.registry` that turns the
settings into a Flax module; the checkpoint is restored against that module's
abstract variables, so shapes are checked on load.  Models never read files:
loading lives here.  Shipped models are folders inside ``gbas_jax/pretrained``.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

import jax
import orbax.checkpoint as ocp

from ..core.discriminator import Discriminator
from ..core.model import Generator
from ..models import registry
from .atomic import atomic_folder

FORMAT = "gbas-jax/1"
PRETRAINED_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "pretrained")
#: Names of the models shipped inside the package.
PRETRAINED = ("dcgan-mnist", "dcgan-mnist-2d")


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


def _restore(path, abstract):
    return ocp.StandardCheckpointer().restore(path, abstract)


def load_pretrained(name_or_path: str = "dcgan-mnist") -> Generator:
    """A :class:`~gbas_jax.Generator` from a shipped name (:data:`PRETRAINED`) or a
    model folder (for example one written by ``python -m converters``)."""
    arch = read_architecture(name_or_path)
    spec = arch.get("generator")
    module = registry.generator_module(spec)
    abstract = registry.abstract_variables(module, registry.example_input(spec, "generator"))
    variables = _restore(os.path.join(resolve(name_or_path), "generator"), abstract)
    return registry.make_generator(module, variables)


def load_discriminator(name_or_path: str = "dcgan-mnist") -> Discriminator:
    """The matching discriminator (``ValueError`` if the folder has none)."""
    arch = read_architecture(name_or_path)
    spec = arch.get("discriminator")
    if not spec:
        raise ValueError(f"{name_or_path!r} has no discriminator")
    module = registry.discriminator_module(spec)
    abstract = registry.abstract_variables(module, registry.example_input(spec, "discriminator"))
    params = _restore(os.path.join(resolve(name_or_path), "discriminator"), abstract)
    return registry.make_discriminator(module, params)


def save_model(path: str, *, generator_spec: dict, generator_variables: Any,
               discriminator_spec: Optional[dict] = None, discriminator_variables: Any = None,
               extra: Optional[dict] = None, overwrite: bool = False) -> str:
    """Write a model folder atomically (see :func:`gbas_jax.io.atomic.atomic_folder`)."""
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
