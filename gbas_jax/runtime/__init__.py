"""How the core's pure functions are compiled and run.

Between :mod:`gbas_jax.core` (pure JAX, no state, no files) and the layers that
load models and write outputs: the library's XLA compiler options
(:mod:`~gbas_jax.runtime.compiler`), the traced-program store that lets a second
process skip tracing (:mod:`~gbas_jax.runtime.program_store`), trace counters
(:mod:`~gbas_jax.runtime.trace_counts`), :class:`~gbas_jax.runtime.programs.Program`
(one call path through all three), and the jitted entry points :func:`ber_opt`,
:func:`gb_rrt`, :func:`egbas`.
"""

from .egbas import ber_opt, egbas, gb_rrt
from .programs import Program
from .trace_counts import TRACE_COUNTS

__all__ = ["ber_opt", "egbas", "gb_rrt", "Program", "TRACE_COUNTS"]
