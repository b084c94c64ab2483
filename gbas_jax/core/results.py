"""Result types of BerOpt, GB-RRT and E-GBAS: pytrees of fixed-size arrays.

In :func:`gbas_jax.egbas_batch` results every field gains a leading query axis.
The host-side helpers (``accepted()``, ``stored_rejected()``, ``stop()``) take one
query's result.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

import jax
import numpy as np


class StopReason(enum.IntEnum):
    """Why GB-RRT stopped (``RRTResult.stop_reason`` holds the value)."""

    CAPACITY = 0          # the tree is full
    MAX_ITERATIONS = 1    # the iteration cap was reached first


class BerOptResult(NamedTuple):
    """Output of :func:`gbas_jax.ber_opt` with ``full_output=True``.

    theta: ``(D_l,)`` keep-probabilities (the iterate with the lowest ``objective``
    seen at a check); loss: ``()`` mean relaxed loss of the last block of steps;
    steps: ``()`` optimiser steps taken; converged: ``()`` whether the convergence
    test stopped it (else the cap did); kept_error: ``()`` mean squared error of
    ``decode(h0 * 1[theta > p])`` against ``G(z0)`` (the paper's Figure 2b);
    objective: ``()`` the hard objective ``J = kept_error + lambda * kept fraction``.
    """

    theta: jax.Array
    loss: jax.Array
    steps: jax.Array
    converged: jax.Array
    kept_error: jax.Array
    objective: jax.Array


class RRTResult(NamedTuple):
    """The tree grown by :func:`gbas_jax.gb_rrt`.

    samples ``(N, Dz)`` (row 0 is ``z0``; rows ``>= num_samples`` are padding),
    parents ``(N,)`` int32 (``-1`` for the root and padding), num_samples ``()``,
    rejected ``(M, Dz)`` (the first ``M`` steered candidates that failed the region
    test), num_rejected ``()`` (all of them, stored or not), iterations ``()``,
    num_proposals ``()`` (``K * iterations``), num_dropped ``()`` (accepted in the
    last batch beyond capacity), stop_reason ``()`` (a :class:`StopReason` value),
    rejected_overflow ``()`` bool; for the paper's calibration of the baselines,
    sample_mean ``(Dz,)`` (of the valid samples) and reject_min_dist /
    reject_max_dist ``()``, the range of distances from it to *every* rejected
    candidate, stored or not (``+inf`` / ``-inf`` when none was rejected).
    """

    samples: jax.Array
    parents: jax.Array
    num_samples: jax.Array
    rejected: jax.Array
    num_rejected: jax.Array
    iterations: jax.Array
    num_proposals: jax.Array
    num_dropped: jax.Array
    stop_reason: jax.Array
    rejected_overflow: jax.Array
    sample_mean: jax.Array
    reject_min_dist: jax.Array
    reject_max_dist: jax.Array

    def accepted(self) -> np.ndarray:
        """The valid rows of ``samples``, ``(num_samples, Dz)`` (host array)."""
        return np.asarray(self.samples[:int(self.num_samples)])

    def stored_rejected(self) -> np.ndarray:
        """The stored rows of ``rejected``, ``(min(num_rejected, M), Dz)`` (host array)."""
        return np.asarray(self.rejected[:min(int(self.num_rejected), self.rejected.shape[0])])

    def stop(self) -> StopReason:
        return StopReason(int(self.stop_reason))


class EGBASResult(NamedTuple):
    """One query's E-GBAS result.

    query ``(Dz,)``; theta ``(D_l,)``; indicator int8 ``(D_l,)``; num_kept ``()``
    (nonzero entries of the indicator; 0 means the region is the whole space);
    ber_loss ``()``; ber_steps ``()``; ber_converged ``()``; kept_error ``()``
    (MSE of the output with only the kept units against ``G(z0)``); tree:
    :class:`RRTResult`; objective ``()``: BerOpt's hard objective ``J``.
    """

    query: jax.Array
    theta: jax.Array
    indicator: jax.Array
    num_kept: jax.Array
    ber_loss: jax.Array
    ber_steps: jax.Array
    ber_converged: jax.Array
    kept_error: jax.Array
    tree: RRTResult
    objective: jax.Array
