"""Output folders that appear whole or not at all."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_folder(path: str, overwrite: bool = True, cleanup=None):
    """Yield a temporary sibling folder of ``path``; when the block succeeds it
    replaces ``path`` (an existing folder is removed only then), and on failure it
    is deleted, so a reader never sees a half-written folder.

    ``cleanup``: optional callable run before the temporary folder is removed
    (to wait for asynchronous writers).
    """
    path = os.path.abspath(path)
    if os.path.exists(path) and not overwrite:
        raise ValueError(f"{path} exists; pass overwrite=True to replace it")
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-" + os.path.basename(path) + "-", dir=parent)
    try:
        yield tmp
        if cleanup is not None:
            cleanup()
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
