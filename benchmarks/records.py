"""Writing benchmark results: whole files or none (an interrupted run never leaves
a half-written JSON behind), through the library's one atomic writer."""

from __future__ import annotations

import json

from gbas_jax.io.atomic import atomic_file


def write_json(path: str, obj, indent: int = 1) -> None:
    """``obj`` as JSON at ``path`` (numpy scalars written as floats)."""
    with atomic_file(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=indent, default=float)


def write_text(path: str, text: str) -> None:
    with atomic_file(path) as tmp, open(tmp, "w") as f:
        f.write(text)
