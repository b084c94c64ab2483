"""A persistent compilation cache, so that a second run does not compile again.

JAX can keep every compiled XLA program in a folder, keyed by the program and the
device; a later process that builds the same program loads it instead of compiling.
The command line turns this on for every command (``--no-compile-cache`` or
``GBAS_JAX_COMPILE_CACHE=0`` turn it off); the library leaves it to you:
``gb.enable_compile_cache()``.

The folder: ``$GBAS_JAX_CACHE_DIR``, else ``$XDG_CACHE_HOME/gbas-jax/xla``, else
``~/.cache/gbas-jax/xla``.  Beside XLA's programs, its ``programs/`` subfolder keeps
E-GBAS's traced programs (:mod:`gbas_jax.runtime.program_store`), so that a second
process skips tracing them too.  Entries are never shared between JAX versions or
devices (both are in the keys); deleting the folder is always safe.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator, Optional

import jax

from ..runtime import program_store
from .atomic import atomic_file

ENV_DIR = "GBAS_JAX_CACHE_DIR"
ENV_SWITCH = "GBAS_JAX_COMPILE_CACHE"


def default_cache_dir() -> str:
    if os.environ.get(ENV_DIR):
        return os.path.abspath(os.path.expanduser(os.environ[ENV_DIR]))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gbas-jax", "xla")


def cache_disabled_by_environment() -> bool:
    return os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off")


def enable_compile_cache(path: Optional[str] = None) -> str:
    """Keep compiled programs in ``path`` (default :func:`default_cache_dir`) and
    reuse them in later processes; returns the folder.  Every program is cached,
    however quickly it compiled (JAX's default skips those under a second, which
    on a CPU is most of ours).  Stays on for the rest of the process; see
    :func:`compile_cache` for a scoped use."""
    path = os.path.abspath(os.path.expanduser(path or default_cache_dir()))
    os.makedirs(path, exist_ok=True)
    if not os.access(path, os.W_OK):
        raise ValueError(f"{path}: the compilation cache folder is not writable")
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    program_store.set_program_store(FolderProgramStore(os.path.join(path, "programs")))
    program_store.prepare()
    return path


_SETTINGS = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
             "jax_persistent_cache_min_entry_size_bytes")


@contextlib.contextmanager
def compile_cache(path: Optional[str] = None) -> Iterator[str]:
    """:func:`enable_compile_cache` for the ``with`` block only: afterwards the
    JAX settings and the program store are what they were (a command run
    in-process leaves no cache behind)."""
    saved = {k: getattr(jax.config, k) for k in _SETTINGS}
    previous = program_store.set_program_store(None)
    try:
        yield enable_compile_cache(path)
    finally:
        for k, v in saved.items():
            jax.config.update(k, v)
        program_store.set_program_store(previous)


class FolderProgramStore:
    """Traced programs as ``<folder>/<key>.jaxexport`` files, written atomically.
    Unreadable files count as absent; a failed write only costs the next process
    a trace."""

    def __init__(self, folder: str):
        self.folder = folder

    def _path(self, key: str) -> str:
        return os.path.join(self.folder, key + ".jaxexport")

    def get(self, key: str) -> Optional[bytes]:
        try:
            with open(self._path(key), "rb") as f:
                return f.read()
        except OSError:
            return None

    def put(self, key: str, data: bytes) -> None:
        try:
            with atomic_file(self._path(key)) as tmp:
                with open(tmp, "wb") as f:
                    f.write(data)
        except OSError:
            pass
