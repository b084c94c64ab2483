"""Outputs that appear whole or not at all: a folder or a file is written under a
temporary sibling name and renamed into place when complete."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Callable, Iterator, Optional, Set

from .outputs import OutputError


#: Temporary paths being written now: removed by :func:`remove_temporaries` when
#: a run is interrupted (the command line exits without unwinding its threads).
_LIVE: Set[str] = set()


def remove_temporaries() -> None:
    """Delete every temporary folder or file still being written."""
    for tmp in list(_LIVE):
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.exists(tmp):
            os.remove(tmp)
        _LIVE.discard(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_tree(path: str) -> None:
    for root, _, files in os.walk(path):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_folder(path: str, overwrite: bool = True, cleanup: Optional[Callable[[], None]] = None
                  ) -> Iterator[str]:
    """Yield a temporary sibling folder of ``path``; when the block succeeds it
    replaces ``path`` (an existing folder is removed only then), and on failure it
    is deleted, so a reader never sees a half-written folder.

    ``cleanup``: optional callable run before the temporary folder is removed
    (to wait for asynchronous writers).
    """
    path = os.path.abspath(path)
    if os.path.exists(path) and not overwrite:
        raise OutputError(path, "exists", hint="overwrite")
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-" + os.path.basename(path) + "-", dir=parent)
    _LIVE.add(tmp)
    os.chmod(tmp, 0o777 & ~_umask())     # mkdtemp makes 0700; the result is an ordinary folder
    try:
        yield tmp
        if cleanup is not None:
            cleanup()
        _fsync_tree(tmp)
        if os.path.exists(path):
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            if cleanup is not None:
                try:
                    cleanup()
                except Exception:
                    pass
            shutil.rmtree(tmp, ignore_errors=True)
        _LIVE.discard(tmp)


@contextlib.contextmanager
def atomic_file(path: str) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success it is flushed to disk and
    renamed to ``path``, on failure removed.  The suffix is kept, so writers that
    choose a format by extension (numpy, Pillow) behave as for ``path``."""
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    base, ext = os.path.splitext(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + base + "-", suffix=ext, dir=parent)
    os.close(fd)
    _LIVE.add(tmp)
    os.chmod(tmp, 0o666 & ~_umask())     # mkstemp makes 0600
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
        _LIVE.discard(tmp)
