"""Many queries over several hosts: the share of each process, and connecting the
processes.

Recipe (N hosts, the same command on each, ``I`` = 0 .. N-1)::

    gbas-jax sample-many --queries 1024 --layer 2 --out RUN \\
        --coordinator HOST0:1234 --num-processes N --process-id I
    gbas-jax merge RUN          # on any host that sees RUN (a shared file system)

``jax.distributed.initialize`` connects the processes (on managed clusters such as
SLURM or Cloud TPU it finds its arguments itself: pass ``--coordinator auto``).
The queries (``N(0, I)`` from ``--seed``) and their keys (``split(key(seed), Q)``)
are the same on every host; host ``p`` takes the contiguous share
:func:`host_share` and runs :func:`gbas_jax.parallel.batch.egbas_batch_keys` on its local
devices (sharded over them), so the merged result equals a one-process run row by
row.  No cross-host communication happens after start-up.  The job itself (files,
progress) is :mod:`gbas_jax.apps.sample_many`.
"""

from __future__ import annotations

from typing import Optional, Tuple

import jax


def host_share(num_queries: int, process_index: int, process_count: int) -> slice:
    """Contiguous share of host ``process_index``; sizes differ by at most one."""
    per, extra = divmod(num_queries, process_count)
    start = process_index * per + min(process_index, extra)
    return slice(start, start + per + (process_index < extra))


def connect(coordinator: Optional[str], num_processes: Optional[int] = None,
            process_id: Optional[int] = None) -> Tuple[int, int]:
    """Join a multi-host run (``coordinator`` ``HOST:PORT``, or ``"auto"`` where the
    cluster tells JAX; ``None``: a one-process run); returns ``(process index,
    process count)``."""
    if coordinator == "auto":
        jax.distributed.initialize()
    elif coordinator:
        jax.distributed.initialize(coordinator, num_processes, process_id)
    return jax.process_index(), jax.process_count()
