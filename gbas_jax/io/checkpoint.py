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
import time
from typing import Any, NamedTuple, Optional, Sequence, Union

import jax
import orbax.checkpoint as ocp

from ..core.discriminator import Discriminator
from ..core.model import Generator
from ..models import registry
from .atomic import atomic_folder

FORMAT = "gbas-jax/1"
PRETRAINED_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "pretrained")
#: Names of the models shipped inside the package.
PRETRAINED = ("dcgan-mnist", "dcgan-mnist-2d", "pggan-mnist", "stylegan2-mnist")


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


class ModelFolder(NamedTuple):
    """A model folder opened once: the name it was given by (a shipped name or a
    path), its resolved path, its parsed ``architecture.json`` and the generator's
    linen module (built from the file alone, no weights read), so that arguments
    are checked before anything is loaded or compiled."""

    name: str
    path: str
    architecture: dict
    module: Any

    @property
    def label(self) -> str:
        """``architecture.json`` of this folder, for error messages."""
        return os.path.join(self.path, "architecture.json")

    @property
    def latent_dim(self) -> int:
        return int(self.module.latent_dim)

    @property
    def num_layers(self) -> int:
        return int(self.module.num_layers)

    @property
    def has_discriminator(self) -> bool:
        return bool(self.architecture.get("discriminator"))

    def check_layers(self, layers: Sequence[int], flag: str = "--layer") -> None:
        """``ValueError`` naming ``flag`` for a layer outside ``1..num_layers``."""
        for layer in layers:
            if not 1 <= layer <= self.num_layers:
                raise ValueError(f"{flag} {layer}: {self.name} has layers 1..{self.num_layers}")

    def require_latent_dim(self, dim: int, why: str) -> None:
        """``ValueError`` unless the latent has ``dim`` dimensions (``why``: what needs it)."""
        if self.latent_dim != dim:
            raise ValueError(f"{self.name}: {why} needs a model with a {dim}-D latent; this one has "
                             f"{self.latent_dim}")


def open_model(model: Union[str, ModelFolder]) -> ModelFolder:
    """:class:`ModelFolder` of a shipped name or a folder (a ``ValueError`` naming the
    file for anything unreadable or malformed); a :class:`ModelFolder` is returned as is."""
    if isinstance(model, ModelFolder):
        return model
    arch = read_architecture(model)
    path = resolve(model)
    return ModelFolder(str(model), path, arch, _module(registry.generator_module, arch["generator"], path))


class Model(NamedTuple):
    """A loaded model: its folder, generator, discriminator (``None`` when the folder
    has none) and the seconds loading took."""

    folder: ModelFolder
    generator: Generator
    discriminator: Optional[Discriminator]
    load_seconds: float

    @property
    def name(self) -> str:
        return self.folder.name


def load_model(model: Union[str, ModelFolder, "Model"], discriminator: bool = True) -> Model:
    """Generator and (when the folder has one and ``discriminator``) discriminator of
    a model, each read once; a :class:`Model` is returned as is."""
    if isinstance(model, Model):
        return model
    t = time.perf_counter()
    folder = open_model(model)
    gen = load_pretrained(folder)
    disc = load_discriminator(folder) if discriminator and folder.has_discriminator else None
    return Model(folder, gen, disc, time.perf_counter() - t)


def _check_readable(path) -> None:
    """Read every array of an OCDBT checkpoint once, one at a time, through the
    drivers orbax uses (zarr over OCDBT).  Orbax restores its arrays concurrently
    and, when one read fails, returns the error while the others are still in
    flight; their completions then land on the event loop it has closed
    (unraisable "Event loop is closed" errors).  A damaged or missing file is found
    here instead, before orbax starts.  Costs one extra read of the weights (26 ms
    for the 1 MB pggan-mnist generator)."""
    if not os.path.isfile(os.path.join(path, "manifest.ocdbt")):
        if os.path.isdir(os.path.join(path, "d")) or any(d.startswith("ocdbt.process_") for d in os.listdir(path)):
            raise ValueError(f"{os.path.join(path, 'manifest.ocdbt')} is missing")
        return                       # not an OCDBT checkpoint: orbax reports what is wrong
    import tensorstore as ts

    try:
        with open(os.path.join(path, "_METADATA"), encoding="utf-8") as f:
            zarr3 = bool(json.load(f).get("use_zarr3", False))
    except (OSError, ValueError, AttributeError):
        zarr3 = False                # orbax reports an unreadable _METADATA itself
    base = {"driver": "ocdbt", "base": "file://" + os.path.abspath(path) + "/"}
    keys = ts.KvStore.open(base).result().list().result()
    for name in sorted({k.decode().split("/")[0] for k in keys}):
        spec = {"driver": "zarr3" if zarr3 else "zarr", "kvstore": {**base, "path": name + "/"}}
        ts.open(spec, open=True).result().read().result()


def _restore(path, abstract):
    """Restore an orbax checkpoint against abstract variables; any failure (a
    missing, truncated or mismatched checkpoint) is a ``ValueError`` naming it."""
    if not os.path.isdir(path):
        raise ValueError(f"{path}: checkpoint folder missing")
    try:
        _check_readable(path)
        return ocp.StandardCheckpointer().restore(path, abstract)
    except Exception as e:          # orbax and tensorstore raise many types
        detail = " ".join(str(e).split())[:160]
        raise ValueError(f"{path}: checkpoint damaged, incomplete or of another architecture ({detail})") from None


def _module(build, spec, path):
    try:
        return build(spec)
    except ValueError as e:
        raise ValueError(f"{os.path.join(path, 'architecture.json')}: {e}") from None


def load_pretrained(name_or_path: Union[str, ModelFolder] = "dcgan-mnist") -> Generator:
    """A :class:`~gbas_jax.Generator` from a shipped name (:data:`PRETRAINED`) or a
    model folder (for example one written by ``python -m converters``)."""
    folder = open_model(name_or_path)
    spec = folder.architecture["generator"]
    abstract = registry.abstract_variables(folder.module, registry.example_input(spec, "generator"))
    variables = _restore(os.path.join(folder.path, "generator"), abstract)
    return registry.make_generator(folder.module, variables)


def load_discriminator(name_or_path: Union[str, ModelFolder] = "dcgan-mnist") -> Discriminator:
    """The matching discriminator (``ValueError`` if the folder has none)."""
    folder = open_model(name_or_path)
    spec = folder.architecture.get("discriminator")
    if not spec:
        raise ValueError(f"{folder.name}: the model folder has no discriminator")
    module = _module(registry.discriminator_module, spec, folder.path)
    abstract = registry.abstract_variables(module, registry.example_input(spec, "discriminator"))
    params = _restore(os.path.join(folder.path, "discriminator"), abstract)
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
