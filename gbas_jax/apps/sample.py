"""``gbas-jax sample``: E-GBAS on one query plus the paper's baselines and metrics.

:func:`compute_sample` runs everything and returns a :class:`SampleRun`;
:func:`write_sample` writes it to an output folder; :func:`run_sample` does both.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Dict, NamedTuple, Optional

import jax
import numpy as np

from ..core import baselines
from ..core.config import EGBASConfig
from ..core.egbas import egbas
from ..core.metrics import sample_set_metrics
from ..core.queries import query_latents
from ..core.results import EGBASResult
from ..io import images
from ..io.atomic import atomic_folder
from ..io.checkpoint import load_discriminator, load_pretrained, read_architecture
from .common import Stages, read_query_file, write_json

FALLBACK_MESSAGE = ("calibrate: no rejected candidates; eps_l2 is the largest distance from the "
                    "sample mean to an accepted sample")


class SampleRun(NamedTuple):
    """Everything one ``sample`` run computed.

    record: the JSON record (settings, counts, calibration, metrics, timings);
    result: the :class:`~gbas_jax.EGBASResult`; latents: ``method -> (n, Dz)``;
    images: ``method -> (n, H, W, C)``; query_image ``(1, H, W, C)``.
    """

    record: dict
    result: EGBASResult
    latents: Dict[str, np.ndarray]
    images: Dict[str, np.ndarray]
    query_image: np.ndarray


def compute_sample(model: str = "dcgan-mnist", layer: int = 2, cfg: Optional[EGBASConfig] = None,
                   seed: int = 0, query: Optional[str] = None, progress: bool = True) -> SampleRun:
    """Run E-GBAS and both baselines for one query (the query from ``seed``, or the
    ``.npy`` file ``query``)."""
    cfg = cfg or EGBASConfig()
    t_all = time.perf_counter()
    with Stages("sample", ["load model", "E-GBAS (BerOpt + GB-RRT, incl. compile)", "baselines", "metrics"],
                progress) as stages:
        with stages.stage("load_s"):
            gen = load_pretrained(model)
            disc = load_discriminator(model) if read_architecture(model).get("discriminator") else None
            z0 = query_latents(gen.latent_dim, seed) if query is None else read_query_file(query, gen.latent_dim)

        k_run, k_l2, k_linf = jax.random.split(jax.random.key(seed), 3)
        with stages.stage("egbas_s"):
            res = jax.block_until_ready(egbas(gen, z0, layer, cfg, key=k_run))

        with stages.stage("baselines_s"):
            z_eg = res.tree.accepted()
            n = len(z_eg)
            cal, info = baselines.calibrate(res, return_info=True)
            latents = {"E-GBAS": z_eg,
                       "eps-L2": np.asarray(baselines.sample_l2_ball(z0, cal.eps_l2, n, key=k_l2)),
                       "eps-Linf": np.asarray(baselines.sample_linf_ball(z0, cal.eps_linf, n, key=k_linf))}

        with stages.stage("metrics_s"):
            table, imgs = {}, {}
            for name, zs in latents.items():
                table[name], imgs[name] = sample_set_metrics(gen, disc, layer, z0, res.indicator, zs)
            query_img = np.asarray(gen.generate(z0[None]))

    tree = res.tree
    proposals = int(tree.num_proposals)
    record = {
        "model": model, "layer": layer, "seed": seed, "query": query,
        "config": dataclasses.asdict(cfg),
        "counts": {"units": int(res.theta.shape[0]), "kept_boundaries": int(res.num_kept),
                   "samples": n, "proposals": proposals,
                   "acceptance_rate": (n - 1) / proposals if proposals else 0.0,
                   "rejected": int(tree.num_rejected), "rrt_iterations": int(tree.iterations),
                   "stop_reason": tree.stop().name.lower(),
                   "rejected_overflow": bool(tree.rejected_overflow),
                   "ber_steps": int(res.ber_steps), "ber_converged": bool(res.ber_converged)},
        "ber_loss": float(res.ber_loss), "kept_error": float(res.kept_error),
        "calibration": {"eps_l2": cal.eps_l2, "eps_linf": cal.eps_linf, "min_dist": info.min_dist,
                        "max_dist": info.max_dist, "fallback_no_rejected": info.fallback,
                        "warnings": [FALLBACK_MESSAGE] if info.fallback else []},
        "metrics": table,
        "device": jax.devices()[0].device_kind,
        "timings": dict(stages.timings),
    }
    record["timings"]["total_s"] = time.perf_counter() - t_all
    return SampleRun(record, res, latents, imgs, query_img)


def write_sample(run: SampleRun, out: str, pictures: int = 12) -> dict:
    """Write the output folder (whole or not at all); returns the final record."""
    t = time.perf_counter()
    record = dict(run.record)
    with atomic_folder(out) as tmp:
        rng = np.random.default_rng(0)

        def pick(x):
            return x[np.sort(rng.choice(len(x), size=min(pictures, len(x)), replace=False))]

        # E-GBAS row 0 is the query itself: show the others.
        pic = images.labelled_rows([run.query_image, pick(run.images["E-GBAS"][1:]), pick(run.images["eps-L2"]),
                                    pick(run.images["eps-Linf"])],
                                   ["query", "E-GBAS", "eps-L2", "eps-Linf"], ncol=pictures)
        pic.save(os.path.join(tmp, "samples.png"))
        tree = run.result.tree
        np.save(os.path.join(tmp, "query.npy"), np.asarray(run.result.query))
        np.save(os.path.join(tmp, "egbas_samples.npy"), run.latents["E-GBAS"])
        np.save(os.path.join(tmp, "egbas_parents.npy"), np.asarray(tree.parents[:len(run.latents["E-GBAS"])]))
        np.save(os.path.join(tmp, "egbas_rejected.npy"), tree.stored_rejected())
        np.save(os.path.join(tmp, "eps_l2_samples.npy"), run.latents["eps-L2"])
        np.save(os.path.join(tmp, "eps_linf_samples.npy"), run.latents["eps-Linf"])
        timings = dict(record["timings"])
        timings["write_s"] = time.perf_counter() - t
        timings["total_s"] += timings["write_s"]
        record["timings"] = {k: round(v, 4) for k, v in timings.items()}
        record["files"] = sorted(os.listdir(tmp)) + ["record.json"]
        write_json(os.path.join(tmp, "record.json"), record)
    return record


def run_sample(model: str = "dcgan-mnist", layer: int = 2, cfg: Optional[EGBASConfig] = None,
               seed: int = 0, query: Optional[str] = None, out: str = "out/sample",
               progress: bool = True, pictures: int = 12) -> dict:
    """:func:`compute_sample`, then :func:`write_sample`; returns the record."""
    return write_sample(compute_sample(model, layer, cfg, seed, query, progress), out, pictures)


def summary_table(record: dict) -> str:
    c = record["counts"]
    lines = [f"model {record['model']}  layer {record['layer']}  seed {record['seed']}",
             f"kept boundaries {c['kept_boundaries']}/{c['units']}  samples {c['samples']}  "
             f"proposals {c['proposals']}  acceptance {c['acceptance_rate']:.2f}  rejected {c['rejected']}  "
             f"stop {c['stop_reason']}",
             f"eps_L2 {record['calibration']['eps_l2']:.4f}  eps_Linf {record['calibration']['eps_linf']:.4f}  "
             f"kept-unit error {record['kept_error']:.2e}",
             f"{'method':<10} {'img std':>8} {'NRS full':>9} {'relaxed':>8}  D similarity"]
    for name, m in record["metrics"].items():
        ds = " ".join(f"{v:.3f}" for v in m.get("discriminator_similarity", []))
        lines.append(f"{name:<10} {m['image_variation']:8.4f} {m['nrs_full']:9.3f} {m['nrs_relaxed']:8.3f}  {ds}")
    t = record["timings"]
    lines.append(f"time: egbas {t['egbas_s']:.2f} s (incl. compile), total {t['total_s']:.2f} s")
    return "\n".join(lines)
