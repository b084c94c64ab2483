"""A jitted gbas-jax program: one call path from a pure core function to XLA.

:class:`Program` wraps ``body(gen, *arrays, **static)``: it counts the body's
traces (:mod:`gbas_jax.runtime.trace_counts`), compiles with the library's
compiler options (:mod:`gbas_jax.runtime.compiler`) and, where a program store is
installed and the model has a stable identity, takes the traced program from the
store instead of tracing it (:mod:`gbas_jax.runtime.program_store`).  Callers see
one function either way; the results are bit for bit the same.
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

from . import compiler, program_store, trace_counts


class Program:
    """``Program(name, body, static_argnames)(gen, *arrays, **static)``.

    ``body(gen, *arrays, **static)`` must be a pure function of its arguments;
    ``static`` values must be hashable and their ``repr`` must determine them (they
    key the program store).  ``storable=False`` keeps the program out of the store
    (for static arguments without a stable ``repr``, such as a device mesh).
    """

    def __init__(self, name: str, body: Callable, static_argnames: Sequence[str] = (), *,
                 storable: bool = True):
        self.name, self.body, self.storable = name, body, storable
        self.static_argnames = tuple(static_argnames)

        def counted(*args, **static):
            trace_counts.traced(name)
            return body(*args, **static)

        self.jitted = compiler.jit(counted, static_argnames=self.static_argnames)
        functools.update_wrapper(self, body)

    def __call__(self, gen, *arrays, **static):
        if self.storable:
            ordered = tuple((k, static[k]) for k in self.static_argnames if k in static)
            thunk = program_store.stored_call(
                self.name, lambda g, *a: self.body(g, *a, **static), gen, ordered, arrays)
            if thunk is not None:
                return thunk()
        return self.jitted(gen, *arrays, **static)

    def lower(self, gen, *arrays, **static):
        """The plain jitted program's ``lower`` (for compiled-memory and HLO checks)."""
        return self.jitted.lower(gen, *arrays, **static)
