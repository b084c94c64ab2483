"""What every study shares: timing, the machine it ran on, and writing results.

* :func:`timed` / :func:`median_time`: a compiling (or warming) first call, then
  timed calls, each waited for (``jax.block_until_ready``; PyTorch studies pass a
  function that synchronises its device).
* :func:`interleaved_medians`: several implementations' calls timed in turn.
* :func:`measure`: the one repeat policy for runs that differ by implementation
  (a warm-up, one timed run, and two more with the median taken when that run is
  shorter than :data:`SHORT_S`), so that no implementation gets more tries.
* :func:`record_header`: command, git commit, device and versions: the fields every
  results file starts with.
* :func:`write_json` / :func:`write_text`: whole files or none (an interrupted run
  never leaves a half-written file behind), through the library's atomic writer.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Callable, List, Optional, Tuple

from gbas_jax.io.atomic import atomic_file

#: A timed run shorter than this (seconds) is repeated twice more, and the median of
#: the three taken, in every implementation (:func:`measure`).
SHORT_S = 1.0

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _ready(out):
    """Wait for JAX results; anything else (a PyTorch study's output, which syncs
    itself) passes through, and JAX is not imported for it."""
    jax = sys.modules.get("jax")
    return out if jax is None else jax.block_until_ready(out)


def timed(fn: Callable[[int], object], repeats: int) -> Tuple[float, List[float], object]:
    """``(first call s, [later calls s], last output)``: ``fn(0)`` once (compilation
    and warm-up included), then ``fn(1) ... fn(repeats)``, each waited for."""
    t0 = time.perf_counter()
    out = _ready(fn(0))
    first = time.perf_counter() - t0
    times = []
    for r in range(1, repeats + 1):
        t0 = time.perf_counter()
        out = _ready(fn(r))
        times.append(time.perf_counter() - t0)
    return first, times, out


def median_time(fn: Callable[[int], object], repeats: int) -> Tuple[float, float, object]:
    """``(first call s, median of repeats later calls s, last output)``."""
    first, times, out = timed(fn, repeats)
    return first, statistics.median(times), out


def measure(run: Callable[[], object], warmup: Optional[Callable[[], object]] = None,
            short_s: float = SHORT_S) -> Tuple[float, object, int]:
    """``(seconds, output, timed runs)`` under the one repeat policy: ``warmup()``
    (default: ``run()`` itself, which compiles a JAX program), then ``run()`` timed;
    if it took less than ``short_s``, two more timed runs and the median of three.
    ``run`` must wait for its own result (JAX: block; CUDA: synchronise)."""
    (warmup or run)()
    times, out = [], None
    while True:
        t0 = time.perf_counter()
        out = _ready(run())
        times.append(time.perf_counter() - t0)
        if len(times) == 3 or times[0] >= short_s:
            return statistics.median(times), out, len(times)


def interleaved_medians(fns: dict, repeats: int) -> dict:
    """``{name: median seconds}`` of each function in ``fns`` (each waits for its own
    result), after one warm-up call each, timed in turn: one call of each per
    round, ``repeats`` rounds, so that a slow spell of a shared machine costs every
    implementation alike.  (Timing one implementation's runs and then the other's
    once put a 2.6x difference into a fixed cost that alternating showed equal.)"""
    for f in fns.values():
        _ready(f())
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter()
            _ready(f())
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def git_commit(root: str = _ROOT) -> Optional[str]:
    """The checkout's HEAD (``None`` outside a git checkout), ``+dirty`` if files differ."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=root,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=root, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) if head else None


def machine(torch_device: Optional[str] = None) -> dict:
    """The host, the JAX backend and devices, and PyTorch's version and threads when
    the process has imported it or names ``torch_device`` (``cuda_device``: its
    GPU's name for a CUDA device).  PyTorch is not imported for this alone: a JAX-only
    study would pay seconds of start-up for it."""
    import jax
    info = {"node": platform.node(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(), "jax": jax.__version__,
            "backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
            "device_kind": jax.devices()[0].device_kind}
    try:
        import jaxlib
        info["jaxlib"] = jaxlib.__version__
    except ImportError:  # pragma: no cover - jax always ships it
        pass
    if "torch" not in sys.modules and torch_device is None:
        return info
    try:
        import torch
    except ImportError:
        info["torch"] = None
        return info
    info["torch"] = torch.__version__
    info["torch_threads"] = torch.get_num_threads()
    if torch_device and torch_device.startswith("cuda"):
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


def record_header(command: Optional[str] = None, torch_device: Optional[str] = None) -> dict:
    """``{"command", "git_commit", "machine"}``: what a results file records first.
    ``command`` defaults to the running process's own command line."""
    if command is None:
        argv = list(sys.argv)
        mod = os.path.splitext(os.path.relpath(argv[0], _ROOT))[0].replace(os.sep, ".") if argv else ""
        command = " ".join(["python -m " + mod.replace(".__main__", "")] + argv[1:])
    return {"command": command, "git_commit": git_commit(), "machine": machine(torch_device)}


def write_json(path: str, obj, indent: int = 1) -> None:
    """``obj`` as JSON at ``path`` (numpy scalars written as floats)."""
    with atomic_file(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=indent, default=float)


def write_text(path: str, text: str) -> None:
    with atomic_file(path) as tmp, open(tmp, "w") as f:
        f.write(text)
