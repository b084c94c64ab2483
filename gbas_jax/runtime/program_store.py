"""Traced programs kept between processes (``jax.export``).

XLA's persistent compilation cache (:mod:`gbas_jax.io.cache`) skips compiling a
program a second time, but not *tracing* and *lowering* it, which for BerOpt's
stage costs about a second of Python on a CPU: most of what a second
``gbas-jax sample`` still waits for.  Here a program is traced once, serialised
with :func:`jax.export.export`, and stored; a later process deserialises it and
calls it, so it only re-embeds the StableHLO module and loads the compiled program
from XLA's cache.

The store is opt-in (``None`` by default): :func:`gbas_jax.io.cache.compile_cache`
(and so the command line) installs a folder-backed one.  A program is stored only
under a key that determines it completely (:func:`program_key`): the model's
identity (:meth:`LayeredModel.cache_identity`: ``None`` -- never stored -- unless
the model vouches that its identity fixes its code), parameter structure, shapes
and dtypes, every argument's shape and dtype, the static arguments, the JAX /
jaxlib / Flax / optax / NumPy versions, the backend and device kind, the JAX
settings that change a trace, and a hash of gbas-jax's own source.  A stored entry
that cannot be read is ignored and replaced.

The exported program is the same StableHLO as ``jax.jit`` lowers, so results are
bit for bit those of a plain ``jax.jit`` (``tests/test_program_store.py``).
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

from ..core.model import shape_signature
from . import compiler


class ProgramStore(Protocol):
    """Bytes by key (a hex string); ``get`` returns ``None`` when absent."""

    def get(self, key: str) -> Optional[bytes]: ...

    def put(self, key: str, data: bytes) -> None: ...


_STORE: Optional[ProgramStore] = None
_LOADED: Dict[str, Callable] = {}       # key -> jitted call of the exported program, per process
_REGISTERED: set = set()

# Settings that change what a function traces to.
_CONFIG = ("jax_enable_x64", "jax_default_matmul_precision", "jax_threefry_partitionable",
           "jax_default_prng_impl", "jax_numpy_dtype_promotion", "jax_enable_custom_prng")


def set_program_store(store: Optional[ProgramStore]) -> Optional[ProgramStore]:
    """Install ``store`` (``None``: trace every process anew); returns the one it replaces."""
    global _STORE
    previous, _STORE = _STORE, store
    _LOADED.clear()
    return previous


def prepare() -> None:
    """Do now what the first call of a deserialised program would do: JAX loads its
    CPU LAPACK handlers (it imports SciPy, ~0.4 s), whether or not the program uses
    them.  Called when a store is installed, at start-up.  It must not start a JAX
    backend (``jax.distributed.initialize`` may still have to run), so it does not
    ask which platform is in use."""
    try:
        from jax._src.lax import linalg   # private; a missing name only costs the delay
        linalg.initialize_lapack()
    except Exception:
        pass


def register_result(cls, name: str) -> None:
    """Let a stored program return the NamedTuple ``cls`` (serialised as ``name``)."""
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


def program_key(name: str, gen, static: tuple, args: tuple) -> Optional[str]:
    """The key of program ``name`` for generator ``gen``, static arguments ``static``
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


def stored_call(name: str, body: Callable, gen, static: tuple, args: tuple) -> Optional[Callable[[], object]]:
    """``body(gen, *args)`` through the store: a thunk that calls the program loaded
    from it, or traced, exported and stored first.  PRNG key arrays among ``args``
    go to the program as their raw data (serialised programs take no key types).

    Returns ``None`` when no store is installed or the model cannot be keyed.
    """
    if _STORE is None:
        return None
    is_key = tuple(jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key) for a in args)
    impls = tuple(str(jax.random.key_impl(a)) if k else None for a, k in zip(args, is_key))
    flat_args = tuple(jax.random.key_data(a) if k else a for a, k in zip(args, is_key))
    key = program_key(name, gen, static + (impls,), flat_args)
    if key is None:
        return None
    fn = _LOADED.get(key)
    if fn is None:
        fn = _LOADED[key] = _load_or_export(key, body, gen, is_key,
                                            tuple(jax.random.key_impl(a) if k else None
                                                  for a, k in zip(args, is_key)), flat_args)
    return lambda: fn(jax.tree_util.tree_leaves(gen), *flat_args)


def _load_or_export(key, body, gen, is_key: tuple, impls: tuple, flat_args: tuple) -> Callable:
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
            args = tuple(jax.random.wrap_key_data(a, impl=i) if k else a
                         for a, k, i in zip(rest, is_key, impls))
            return body(g, *args)

        exported = export.export(jax.jit(flat))(jax.tree_util.tree_leaves(gen), *flat_args)
        _STORE.put(key, bytes(exported.serialize()))
    return compiler.jit(exported.call)
