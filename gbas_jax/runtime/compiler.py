r"""The XLA compiler options gbas-jax compiles its programs with, and :func:`jit`.

On CPUs, XLA hands float32 convolutions with ``SAME``-style padding to YNNPACK
(an XLA ``__ynn_fusion``), which at the shapes of the shipped and benchmarked
generators is slower than XLA's own Eigen convolutions, while matrix products run
the same either way (measured in ``docs/performance.md``).  So on a CPU every
jitted gbas-jax program is compiled with YNNPACK fusions off
(``xla_cpu_experimental_ynn_fusion_type=""``); other backends get no options.

Opting out: ``GBAS_JAX_CPU_YNNPACK=1`` keeps XLA's default, and an
``XLA_FLAGS`` that sets ``xla_cpu_experimental_ynn_fusion_type`` itself is left
to decide.  A jaxlib that does not know the option (older or newer than the ones
measured) compiles with no options: :func:`options` tries the option once, on a
trivial program, at the first call of a gbas-jax function (not at import, so
importing gbas-jax starts no backend).
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, Dict

import jax
import jax.numpy as jnp

_YNN = "xla_cpu_experimental_ynn_fusion_type"
OPT_OUT = "GBAS_JAX_CPU_YNNPACK"


def wanted(backend: str) -> Dict[str, Any]:
    """The options gbas-jax asks for on ``backend``, before checking that this
    jaxlib accepts them."""
    if backend != "cpu" or os.environ.get(OPT_OUT, "") not in ("", "0"):
        return {}
    if _YNN in os.environ.get("XLA_FLAGS", ""):
        return {}
    return {_YNN: ""}


@functools.lru_cache(maxsize=None)
def _accepted(backend: str, items: tuple) -> Dict[str, Any]:
    del backend                  # the key: compiled on the default backend, which it names
    opts = dict(items)
    if not opts:
        return {}
    try:
        jax.jit(lambda x: x + 1, compiler_options=opts).lower(jnp.float32(0)).compile()
    except Exception:            # this jaxlib lacks an option: XLA's defaults
        return {}
    return opts


def options(backend: str | None = None) -> Dict[str, Any]:
    """The compiler options of every jitted gbas-jax program on ``backend``
    (default: JAX's default backend); ``{}`` where none apply."""
    backend = backend or jax.default_backend()
    return dict(_accepted(backend, tuple(sorted(wanted(backend).items()))))


class _Jit:
    """``jax.jit(fun, **kwargs)`` with :func:`options` added, built at the first
    use (call or attribute such as ``lower``) so that importing starts no backend."""

    def __init__(self, fun: Callable, kwargs: dict):
        self._fun, self._kwargs, self._jitted = fun, kwargs, None
        functools.update_wrapper(self, fun)

    def _get(self):
        if self._jitted is None:
            self._jitted = jax.jit(self._fun, compiler_options=options() or None, **self._kwargs)
        return self._jitted

    def __call__(self, *args, **kwargs):
        return self._get()(*args, **kwargs)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._get(), name)


def jit(fun: Callable | None = None, **kwargs):
    """:func:`jax.jit` with gbas-jax's compiler options; usable as
    ``jit(f, static_argnames=...)`` or ``functools.partial(jit, ...)`` as a decorator."""
    if fun is None:
        return functools.partial(jit, **kwargs)
    return _Jit(fun, kwargs)
