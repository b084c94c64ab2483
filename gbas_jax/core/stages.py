"""Traced E-GBAS stages kept between processes (``jax.export``).

XLA's persistent compilation cache (:mod:`gbas_jax.io.cache`) skips compiling a
stage a second time, but not *tracing* and *lowering* it, which for BerOpt's stage
costs about a second of Python on a CPU: most of what a second ``gbas-jax sample``
still waited for.  Here a stage is traced once, serialised with
:func:`jax.export.export`, and stored; a later process deserialises it and calls it,
so it only re-embeds the StableHLO module and loads the compiled program from
XLA's cache.

The store is opt-in (``None`` by default): :func:`gbas_jax.enable_compile_cache`
(and so the command line) installs a folder-backed one.  A stage is stored only
under a key that determines its program completely (:func:`stage_key`): the
model's identity (:meth:`LayeredModel.cache_identity`: ``None`` -- never stored --
unless the model vouches that its identity fixes its code), parameter structure,
shapes and dtypes, every argument's shape and dtype, the static arguments, the
JAX / jaxlib / Flax / optax / NumPy versions, the backend and device kind, the JAX
settings that change a trace, and a hash of gbas-jax's own source.  A stored entry
that cannot be read is ignored and replaced.

The exported program is the same StableHLO as ``jax.jit`` lowers, so results are
bit for bit those of the plain path (``tests/test_stages.py``).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
from typing import Callable, Dict, Optional, Protocol

import jax
from jax import export

from . import compiler
from .model import shape_signature


class StageStore(Protocol):
    """Bytes by key (a hex string); ``get`` returns ``None`` when absent."""

    def get(self, key: str) -> Optional[bytes]: ...

    def put(self, key: str, data: bytes) -> None: ...


_STORE: Optional[StageStore] = None
_LOADED: Dict[str, Callable] = {}       # key -> jitted call of the exported stage, per process
_REGISTERED: set = set()

# Settings that change what a function traces to.
_CONFIG = ("jax_enable_x64", "jax_default_matmul_precision", "jax_threefry_partitionable",
           "jax_default_prng_impl", "jax_numpy_dtype_promotion", "jax_enable_custom_prng")


def set_stage_store(store: Optional[StageStore]) -> None:
    """Install ``store`` for traced stages (``None``: trace every process anew)."""
    global _STORE
    _STORE = store
    _LOADED.clear()


def stage_store() -> Optional[StageStore]:
    return _STORE


def prepare() -> None:
    """Do now what the first call of a deserialised stage would do: JAX loads its
    CPU LAPACK handlers (it imports SciPy, ~0.4 s), whether or not the stage uses
    them.  Called when a store is installed, at start-up.  It must not start a JAX
    backend (``jax.distributed.initialize`` may still have to run), so it does not
    ask which platform is in use."""
    try:
        from jax._src.lax import linalg   # private; a missing name only costs the delay
        linalg.initialize_lapack()
    except Exception:
        pass


def register_result(cls, name: str) -> None:
    """Let a stage return the NamedTuple ``cls`` (serialised as ``name``)."""
    if cls not in _REGISTERED:
        export.register_namedtuple_serialization(cls, serialized_name=name)
        _REGISTERED.add(cls)


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """sha256 over gbas-jax's Python sources (path and contents)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    h = hashlib.sha256()
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                p = os.path.join(d, f)
                h.update(os.path.relpath(p, root).encode())
                with open(p, "rb") as fh:
                    h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def _environment() -> tuple:
    def version(name):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None
    dev = jax.devices()[0]
    return (tuple(version(n) for n in ("jax", "jaxlib", "flax", "optax", "numpy")),
            jax.default_backend(), dev.device_kind, source_hash())


def stage_key(name: str, gen, static: tuple, args: tuple) -> Optional[str]:
    """The key of stage ``name`` for generator ``gen``, static arguments ``static``
    (hashable; ``repr`` must determine them) and array arguments ``args``; ``None``
    when the model has no stable identity.  Memoised on hashable signatures, so a
    repeated call costs a dictionary lookup, not a digest."""
    config = tuple(str(getattr(jax.config, k, None)) for k in _CONFIG)
    return _digest(name, gen.model, shape_signature(gen.params), static,
                   tuple((a.shape, a.dtype) for a in args), config)


@functools.lru_cache(maxsize=256)
def _digest(name, model, signature, static, arg_signature, config) -> Optional[str]:
    identity = getattr(model, "cache_identity", lambda: None)()
    if identity is None:
        return None
    treedef, shapes = signature
    parts = [name, identity, str(treedef), repr(shapes), repr(static), repr(arg_signature),
             _environment(), list(zip(_CONFIG, config))]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def call_stage(name: str, body: Callable, gen, static: tuple, args: tuple, keys: tuple = ()):
    """``body(gen, *args, *keys)`` through the store: loaded from it when present,
    else traced, exported, stored and called.  ``keys`` are PRNG key arrays (passed
    to the program as their raw data, as serialised programs take no key types).

    Returns ``None`` when there is no store or the model cannot be keyed; the caller
    then runs its ordinary ``jax.jit`` path.
    """
    if _STORE is None:
        return None
    impls = tuple(jax.random.key_impl(k) for k in keys)
    key_data = tuple(jax.random.key_data(k) for k in keys)
    key = stage_key(name, gen, static + (tuple(map(str, impls)),), args + key_data)
    if key is None:
        return None
    fn = _LOADED.get(key)
    if fn is None:
        fn = _LOADED[key] = _load_or_export(key, body, gen, len(args), impls, args + key_data)
    return fn(jax.tree_util.tree_leaves(gen), *args, *key_data)


def _load_or_export(key, body, gen, n_args: int, impls: tuple, flat_args: tuple) -> Callable:
    exported = None
    data = _STORE.get(key)
    if data is not None:
        try:
            exported = export.deserialize(bytearray(data))
        except Exception:                # damaged or foreign entry: export again and replace it
            exported = None
    if exported is None:
        treedef = jax.tree_util.tree_structure(gen)

        def flat(leaves, *rest):
            g = jax.tree_util.tree_unflatten(treedef, leaves)
            ks = tuple(jax.random.wrap_key_data(d, impl=i) for d, i in zip(rest[n_args:], impls))
            return body(g, *rest[:n_args], *ks)

        exported = export.export(jax.jit(flat))(jax.tree_util.tree_leaves(gen), *flat_args)
        _STORE.put(key, bytes(exported.serialize()))
    return compiler.jit(exported.call)
