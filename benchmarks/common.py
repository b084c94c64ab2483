"""What every study shares: timing, the machine it ran on, and writing results.

* :func:`settle`: the warm-up every timing starts with: calls for :data:`WARM_S`
  seconds (one call when a single call takes that long).
* :func:`timed` / :func:`median_time`: a compiling (or warming) first call, the
  warm-up, then timed calls, each waited for (``jax.block_until_ready``; PyTorch
  studies pass a function that synchronises its device).
* :func:`interleaved_medians`: several implementations timed in turn, a block of
  calls each, every block after its own warm-up.
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

#: Seconds of warm-up calls before any timed call (:func:`settle`).  An XLA:CPU
#: program's calls run slow for a while after a pause or other work, where
#: PyTorch's are back to speed after one call; a single compiling call left the
#: short GB-RRT points timing that spell (``python -m benchmarks below-one``'s
#: ``first_calls`` row, docs/performance.md).
WARM_S = 0.25

#: Timed calls per implementation and block in :func:`interleaved_medians`.
BLOCK = 5

#: glibc's malloc thresholds of every ``python -m benchmarks`` process
#: (:func:`steady_malloc`): freed memory up to this much stays with the process, and
#: blocks up to this size come from the heap instead of their own ``mmap``.
MALLOC_TRIM_BYTES = 256 << 20
MALLOC_MMAP_BYTES = 32 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3      # glibc's mallopt parameters
_MALLOC: Optional[dict] = None

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def steady_malloc() -> Optional[dict]:
    """Fix glibc's malloc thresholds for this process (``mallopt``), so that a timing
    does not depend on what the process ran before.  glibc adapts both thresholds to
    the largest block freed so far and returns freed heap to the system past the trim
    threshold; a small XLA:CPU program then pays fresh pages on every call until
    some earlier work has raised them (``dcgan-mnist``'s layer-2 membership test,
    32 candidates: 2.2-2.4 ms in a fresh process, 1.3 ms after a 64x64 DCGAN BerOpt
    study or with these thresholds; PyTorch's 0.8 ms either way).  ``{"trim_bytes",
    "mmap_bytes"}`` as set (also in :func:`machine`'s record), or ``None`` where the
    C library is not glibc.  Benchmarks only: gbas-jax itself leaves the process's
    allocator alone (a whole tree or BerOpt run allocates once per call)."""
    global _MALLOC
    if _MALLOC is not None:
        return dict(_MALLOC)
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    import ctypes
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    if not (mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_BYTES) and mallopt(_M_TRIM_THRESHOLD, MALLOC_TRIM_BYTES)):
        return None
    _MALLOC = {"trim_bytes": MALLOC_TRIM_BYTES, "mmap_bytes": MALLOC_MMAP_BYTES}
    return dict(_MALLOC)


def _ready(out):
    """Wait for JAX results; anything else (a PyTorch study's output, which syncs
    itself) passes through, and JAX is not imported for it."""
    jax = sys.modules.get("jax")
    return out if jax is None else jax.block_until_ready(out)


def settle(call: Callable[[], object], min_s: float = WARM_S) -> Tuple[object, Optional[float]]:
    """Warm-up: ``call()`` (waited for) until ``min_s`` seconds have passed, at least
    once.  ``(last output, seconds)``: the seconds of that call when it was the only
    one (a call of ``min_s`` or longer, which then counts as a timed run: the
    program was warm when it started), else ``None``."""
    t0 = time.perf_counter()
    out = _ready(call())
    once = time.perf_counter() - t0
    if once >= min_s:
        return out, once
    while time.perf_counter() - t0 < min_s:
        out = _ready(call())
    return out, None


def call_times(call: Callable[[], object], n: int) -> List[float]:
    """Seconds of each of ``n`` calls of ``call`` in a row, each waited for, with no
    warm-up (what a warm-up is for is what some studies time)."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        _ready(call())
        out.append(time.perf_counter() - t0)
    return out


def first_call(run: Callable[[], object]) -> Tuple[float, object]:
    """``(seconds, output)`` of one call of ``run``, waited for: a JAX program's
    compiling call, whose time less a timed run's is the compile time reported."""
    t0 = time.perf_counter()
    out = _ready(run())
    return time.perf_counter() - t0, out


def timed(fn: Callable[[int], object], repeats: int) -> Tuple[float, List[float], object]:
    """``(first call s, [later calls s], last output)``: ``fn(0)`` once (compilation
    and warm-up included), then, when ``repeats`` > 0, :func:`settle` on ``fn(0)``
    (untimed) and ``fn(1) ... fn(repeats)`` timed, each waited for.  ``repeats=0``
    is one call and nothing more (a conversion, a cold start)."""
    first, out = first_call(lambda: fn(0))
    times = []
    if repeats > 0:
        settle(lambda: fn(0))
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
            short_s: float = SHORT_S, repeats: int = 3,
            seconds: Optional[Callable[[object], float]] = None) -> Tuple[float, object, int]:
    """``(seconds, output, timed runs)`` under the one repeat policy: ``warmup()``
    (default: ``run()`` itself, which compiles a JAX program), :func:`settle` on
    ``run``, then ``run()`` timed; if it took less than ``short_s``, ``repeats``
    timed runs in all and their median.  ``run`` must wait for its own result
    (JAX: block; CUDA: synchronise).  ``seconds(output)``, when given, is a run's
    time in place of the wall clock's (a PyTorch reference that times its own
    loop, set-up excluded)."""
    (warmup or run)()
    out, once = settle(run)
    times = [] if once is None else [once if seconds is None else seconds(out)]
    while not times or (len(times) < repeats and times[0] < short_s):
        t0 = time.perf_counter()
        out = _ready(run())
        times.append(time.perf_counter() - t0 if seconds is None else seconds(out))
    return statistics.median(times), out, len(times)


def interleaved_medians(fns: dict, repeats: int, block: int = BLOCK) -> dict:
    """``{name: median seconds}`` of ``repeats`` timed calls of each function in
    ``fns`` (each waits for its own result).  After one first (compiling) call
    each, the implementations take turns: per turn :func:`settle`, then up to
    ``block`` timed calls, so that a slow spell of a shared machine costs every
    implementation alike.  Why blocks and not one call each in turn: PyTorch's
    OpenMP workers spin for a while after each of its calls, on the cores the next
    call needs (``below-one``'s ``after_torch`` row), and XLA:CPU is slow for its
    first calls after other work (:data:`WARM_S`).  (Timing all of one implementation's runs and
    then the other's once put a 2.6x difference into a fixed cost that taking
    turns showed equal.)"""
    for f in fns.values():
        _ready(f())
    times = {k: [] for k in fns}
    while any(len(v) < repeats for v in times.values()):
        for k, f in fns.items():
            if len(times[k]) >= repeats:
                continue
            _, once = settle(f)
            if once is not None:      # a long call: one per turn, the warm-up's own
                times[k].append(once)
                continue
            times[k] += call_times(f, min(block, repeats - len(times[k])))
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
            "device_kind": jax.devices()[0].device_kind, "malloc": _MALLOC and dict(_MALLOC)}
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
