"""One query evaluated as the paper's Section 4 evaluates it: E-GBAS, the
epsilon-L2 and epsilon-Linf baselines calibrated from its tree, and the metrics of
each method's samples (Tables 1-2 and the NRS fractions).

Every job that evaluates queries goes through :func:`evaluate_query`: ``sample``,
each query and layer of ``reproduce``, and the recommendation sweep
(``benchmarks.recommend``).
"""

from __future__ import annotations

import functools
from typing import Dict, List, NamedTuple, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core import baselines
from ..core.baselines import Calibration, CalibrationInfo
from ..core.metrics import set_metrics
from ..core.results import EGBASResult
from ..runtime.compiler import jit
from ..runtime.egbas import egbas
from . import health
from .common import Timings

METHODS = ("E-GBAS", "eps-L2", "eps-Linf")


@functools.partial(jit, static_argnames=("layer",))
def _set_metrics(gen, disc, layer, z0, V, zs):
    return set_metrics(gen, disc, layer, z0, V, zs)


def sample_set_metrics(gen, disc, layer: int, z0, V, zs) -> Tuple[dict, np.ndarray]:
    """:func:`gbas_jax.core.metrics.set_metrics` of one sample set ``zs`` ``(n, Dz)``
    as a record of Python floats (``count``, ``image_variation``, ``nrs_full``,
    ``nrs_relaxed`` and, with a discriminator, ``discriminator_similarity``) and the
    samples' images ``(n, H, W, C)`` as a host array."""
    out, imgs = _set_metrics(gen, disc, layer, jnp.asarray(z0), jnp.asarray(V), jnp.asarray(zs))
    rec = {"count": int(zs.shape[0])}
    for k, v in out.items():
        rec[k] = [float(x) for x in v] if np.ndim(v) else float(v)
    return rec, np.asarray(imgs)


class QueryEvaluation(NamedTuple):
    """What :func:`evaluate_query` computed for one query and layer.

    ``latents``, ``metrics`` and ``images`` map each method (:data:`METHODS`) to its
    samples ``(n, Dz)``, their metrics record and their images ``(n, H, W, C)``;
    ``problems`` are the result's :class:`~gbas_jax.apps.health.Problem` s;
    ``timings`` the seconds of ``egbas_s`` (compilation included), ``baselines_s``
    and ``metrics_s``."""

    result: EGBASResult
    calibration: Calibration
    calibration_info: CalibrationInfo
    latents: Dict[str, np.ndarray]
    metrics: Dict[str, dict]
    images: Dict[str, np.ndarray]
    problems: List[health.Problem]
    timings: Dict[str, float]


def evaluate_query(gen, disc, layer: int, z0, cfg, *, keys, progress=None) -> QueryEvaluation:
    """E-GBAS for query ``z0`` ``(Dz,)`` at ``layer``, both baselines with as many
    samples as E-GBAS returned, and every method's metrics.

    ``keys``: ``(egbas, eps-L2, eps-Linf)`` PRNG keys.  ``disc`` may be ``None`` (no
    discriminator similarity).  ``progress``: a
    :class:`~gbas_jax.apps.common.Progress` with the steps ``egbas_s``,
    ``baselines_s`` and ``metrics_s`` (default: timed only)."""
    k_run, k_l2, k_linf = keys
    progress = progress or Timings()
    z0 = np.asarray(z0, np.float32)
    with progress.step("egbas_s"):
        res = jax.block_until_ready(egbas(gen, z0, layer, cfg, key=k_run))
    with progress.step("baselines_s"):
        zs = res.tree.accepted()
        n = len(zs)
        cal, info = baselines.calibrate(res, return_info=True)
        latents = {"E-GBAS": zs,
                   "eps-L2": np.asarray(baselines.sample_l2_ball(z0, cal.eps_l2, n, key=k_l2)),
                   "eps-Linf": np.asarray(baselines.sample_linf_ball(z0, cal.eps_linf, n, key=k_linf))}
    with progress.step("metrics_s"):
        metrics, images = {}, {}
        for name in METHODS:
            metrics[name], images[name] = sample_set_metrics(gen, disc, layer, z0, res.indicator, latents[name])
    return QueryEvaluation(res, cal, info, latents, metrics, images, health.egbas_problems(res, info),
                           dict(progress.timings))


def counts(res: EGBASResult) -> dict:
    """The counts a record keeps of one query's result."""
    tree = res.tree
    n, proposals = int(tree.num_samples), int(tree.num_proposals)
    return {"units": int(res.indicator.shape[0]), "kept_boundaries": int(res.num_kept), "samples": n,
            "proposals": proposals, "acceptance_rate": (n - 1) / proposals if proposals else 0.0,
            "rejected": int(tree.num_rejected), "rrt_iterations": int(tree.iterations),
            "stop_reason": tree.stop().name.lower(), "rejected_overflow": bool(tree.rejected_overflow),
            "ber_steps": int(res.ber_steps), "ber_converged": bool(res.ber_converged)}


def calibration_record(ev: QueryEvaluation) -> dict:
    cal, info = ev.calibration, ev.calibration_info
    return {"eps_l2": cal.eps_l2, "eps_linf": cal.eps_linf, "min_dist": info.min_dist,
            "max_dist": info.max_dist, "fallback_no_rejected": info.fallback}


def query_keys(key) -> Tuple[jax.Array, jax.Array, jax.Array]:
    """The three keys of :func:`evaluate_query` from one: ``split(key, 3)``."""
    k_run, k_l2, k_linf = jax.random.split(key, 3)
    return k_run, k_l2, k_linf


