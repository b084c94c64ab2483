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
PRETRAINED = ("dcgan-mnist", "dcgan-mnist-2d", "pggan-mnist")


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
    """The parsed ``architecture.json`` of a model; ``ValueError`` naming the file
    and the problem if it is unreadable, not JSON, or not of this format."""
    path = os.path.join(resolve(name_or_path), "architecture.json")
    try:
        with open(path, encoding="utf-8") as f:
            arch = json.load(f)
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot be read ({e.strerror})") from None
    if not isinstance(arch, dict):
        raise ValueError(f"{path}: expected a JSON object, found {type(arch).__name__}")
    if arch.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown format {arch.get('format')!r} (expected {FORMAT!r})")
    if not isinstance(arch.get("generator"), dict):
        raise ValueError(f"{path}: no 'generator' entry")
    return arch


def _restore(path, abstract):
    """Restore an orbax checkpoint against abstract variables; any failure (a
    missing, truncated or mismatched checkpoint) is a ``ValueError`` naming it."""
    if not os.path.isdir(path):
        raise ValueError(f"{path}: checkpoint folder missing")
    try:
        return ocp.StandardCheckpointer().restore(path, abstract)
    except Exception as e:          # orbax and tensorstore raise many types
        detail = " ".join(str(e).split())[:160]
        raise ValueError(f"{path}: checkpoint damaged, incomplete or of another architecture ({detail})") from None


def _module(build, spec, name_or_path):
    try:
        return build(spec)
    except ValueError as e:
        raise ValueError(f"{os.path.join(resolve(name_or_path), 'architecture.json')}: {e}") from None


def generator_module(name_or_path: str):
    """The generator's linen module from ``architecture.json`` alone (no weights
    read): its ``latent_dim`` and ``num_layers`` validate arguments before a run."""
    return _module(registry.generator_module, read_architecture(name_or_path)["generator"], name_or_path)


def load_pretrained(name_or_path: str = "dcgan-mnist") -> Generator:
    """A :class:`~gbas_jax.Generator` from a shipped name (:data:`PRETRAINED`) or a
    model folder (for example one written by ``python -m converters``)."""
    arch = read_architecture(name_or_path)
    spec = arch["generator"]
    module = _module(registry.generator_module, spec, name_or_path)
    abstract = registry.abstract_variables(module, registry.example_input(spec, "generator"))
    variables = _restore(os.path.join(resolve(name_or_path), "generator"), abstract)
    return registry.make_generator(module, variables)


def load_discriminator(name_or_path: str = "dcgan-mnist") -> Discriminator:
    """The matching discriminator (``ValueError`` if the folder has none)."""
    arch = read_architecture(name_or_path)
    spec = arch.get("discriminator")
    if not spec:
        raise ValueError(f"{name_or_path}: the model folder has no discriminator")
    module = _module(registry.discriminator_module, spec, name_or_path)
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
