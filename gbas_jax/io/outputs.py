"""Where a job may write: the output-folder policy that keeps a user's files safe.

Every folder gbas-jax writes carries a record that says which job wrote it
(``record.json`` / ``results.json`` with a ``"written_by"`` entry, or a model
folder's ``architecture.json``).  :func:`check_output_folder` decides, before any
work starts, whether ``--out`` may be (re)written:

* a path that does not exist, or an empty folder: yes;
* a folder written by the same job: yes (rerunning a command replaces its output),
  except model folders, which need ``overwrite``;
* a folder written by another gbas-jax job: only with ``overwrite``;
* anything else (a file, a folder of the user's, the current directory or one of
  its parents): never, ``overwrite`` or not.

The folder itself is then written atomically (:func:`gbas_jax.io.atomic.atomic_folder`).
"""

from __future__ import annotations

import json
import os
from typing import Optional

__all__ = ["OutputError", "RECORD_FILES", "written_by", "stamp", "check_output_folder"]

#: Files that may hold a gbas-jax record, in the order they are looked for.
RECORD_FILES = ("record.json", "results.json", "architecture.json")


class OutputError(ValueError):
    """An output path that may not be written; ``hint`` says how to proceed
    (``"overwrite"`` when passing ``overwrite=True`` / ``--overwrite`` would do)."""

    def __init__(self, path: str, problem: str, hint: Optional[str] = None):
        super().__init__(f"{path}: {problem}" + ("; pass overwrite=True to replace it" if hint == "overwrite" else ""))
        self.path, self.problem, self.hint = path, problem, hint

    def cli_message(self) -> str:
        """The same message in command-line words."""
        return f"{self.path}: {self.problem}" + ("; pass --overwrite to replace it" if self.hint == "overwrite" else "")


def stamp(job: str) -> dict:
    """The entry every record carries: ``{"written_by": {"program": "gbas-jax", "job": job}}``."""
    return {"written_by": {"program": "gbas-jax", "job": job}}


def written_by(folder: str) -> Optional[str]:
    """The job that wrote ``folder`` (``"sample"``, ``"model"``, ...), or ``None``
    when no gbas-jax record is found.  Model folders (``architecture.json`` of the
    gbas-jax format) count as ``"model"``, whichever job wrote them."""
    for name in RECORD_FILES:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            continue
        try:
            with open(path) as f:
                rec = json.load(f)
        except (OSError, ValueError):
            return None
        if not isinstance(rec, dict):
            return None
        if name == "architecture.json":
            return "model" if str(rec.get("format", "")).startswith("gbas-jax/") else None
        by = rec.get("written_by")
        if isinstance(by, dict) and by.get("program") == "gbas-jax" and isinstance(by.get("job"), str):
            return by["job"]
        return None
    return None


def _is_cwd_or_parent(path: str) -> bool:
    cwd = os.path.realpath(os.getcwd())
    real = os.path.realpath(path)
    return cwd == real or cwd.startswith(real.rstrip(os.sep) + os.sep)


def check_output_folder(path: str, job: str, overwrite: bool = False, replace_same_job: bool = True) -> str:
    """The absolute ``path`` if ``job`` may write its output folder there, else
    :class:`OutputError` (see the module docstring for the rules).

    ``replace_same_job=False`` asks for ``overwrite`` even to replace the same
    job's output (model folders: a training run is worth more than a rerun).
    """
    if not isinstance(path, str) or not path.strip():
        raise OutputError(repr(path), "an output folder must be a non-empty path")
    full = os.path.abspath(os.path.expanduser(path))
    if _is_cwd_or_parent(full):
        raise OutputError(path, "is the current directory or one of its parents; name a new folder")
    if not os.path.lexists(full):
        parent = os.path.dirname(full)
        while not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent):
            raise OutputError(path, f"cannot be created: {parent} is not a folder")
        if not os.access(parent, os.W_OK):
            raise OutputError(path, f"cannot be created: {parent} is not writable")
        return full
    if not os.path.isdir(full) or os.path.islink(full):
        raise OutputError(path, "exists and is not a folder")
    if not os.listdir(full):
        return full
    owner = written_by(full)
    if owner == job and replace_same_job:
        return full
    if owner is None:
        raise OutputError(path, "exists and was not written by gbas-jax; choose another folder "
                                "(gbas-jax never replaces folders it did not write)")
    if not overwrite:
        what = "a gbas-jax model folder" if owner == "model" else f"the output of 'gbas-jax {owner}'"
        raise OutputError(path, f"holds {what}", hint="overwrite")
    return full
