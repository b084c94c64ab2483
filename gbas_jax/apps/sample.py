"""``gbas-jax sample``: E-GBAS on one query plus the paper's baselines and metrics.

:func:`compute_sample` runs everything and returns a :class:`SampleRun`;
:func:`write_sample` writes it to an output folder; :func:`run_sample` does both.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Dict, NamedTuple, Union

import jax
import numpy as np

from ..core import baselines
from ..core.egbas import egbas
from ..core.metrics import sample_set_metrics
from ..core.queries import query_latents
from ..core.results import EGBASResult
from ..io.atomic import atomic_folder
from ..io.checkpoint import load_discriminator, load_pretrained, read_architecture
from ..io.outputs import stamp
from ..io.queries import read_query_file
from . import figures, health
from .common import Stages, as_settings, settings_line, write_json


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


def compute_sample(model: str = "dcgan-mnist", layer: int = 2, cfg=None, seed: int = 0,
                   query: Union[None, str, np.ndarray] = None, progress: bool = True) -> SampleRun:
    """Run E-GBAS and both baselines for one query: ``N(0, I)`` from ``seed``, or
    ``query`` (a ``(Dz,)`` array or a ``.npy`` file).  ``cfg``: an
    :class:`~gbas_jax.EGBASConfig`, or :class:`~gbas_jax.apps.settings.Settings`
    (recorded with the source of each value); default: the library defaults."""
    st = as_settings(cfg)
    cfg = st.config
    t_all = time.perf_counter()
    with Stages("sample", ["load model", "E-GBAS (BerOpt + GB-RRT, incl. compile)", "baselines", "metrics"],
                progress) as stages:
        with stages.stage("load_s"):
            gen = load_pretrained(model)
            disc = load_discriminator(model) if read_architecture(model).get("discriminator") else None
            if query is None:
                z0 = query_latents(gen.latent_dim, seed)
            elif isinstance(query, str):
                z0 = read_query_file(query, gen.latent_dim)
            else:
                z0 = np.asarray(query, np.float32)

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
    problems = health.egbas_problems(res, info)
    record = {
        **stamp("sample"),
        "model": model, "layer": layer, "seed": seed, "query": query if isinstance(query, str) else
        (None if query is None else [float(v) for v in z0]),
        "config": dataclasses.asdict(cfg), "config_sources": dict(st.sources),
        "counts": {"units": int(res.theta.shape[0]), "kept_boundaries": int(res.num_kept),
                   "samples": n, "proposals": proposals,
                   "acceptance_rate": (n - 1) / proposals if proposals else 0.0,
                   "rejected": int(tree.num_rejected), "rrt_iterations": int(tree.iterations),
                   "stop_reason": tree.stop().name.lower(),
                   "rejected_overflow": bool(tree.rejected_overflow),
                   "ber_steps": int(res.ber_steps), "ber_converged": bool(res.ber_converged)},
        "ber_loss": float(res.ber_loss), "kept_error": float(res.kept_error), "ber_objective": float(res.objective),
        "calibration": {"eps_l2": cal.eps_l2, "eps_linf": cal.eps_linf, "min_dist": info.min_dist,
                        "max_dist": info.max_dist, "fallback_no_rejected": info.fallback},
        "metrics": table,
        "problems": health.as_records(problems),
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
        figures.sample_figure(run.query_image, run.images, record["layer"], pictures,
                              os.path.join(tmp, "samples.png"))
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


def run_sample(model: str = "dcgan-mnist", layer: int = 2, cfg=None,
               seed: int = 0, query: Union[None, str, np.ndarray] = None, out: str = "out/sample",
               progress: bool = True, pictures: int = 12) -> dict:
    """:func:`compute_sample`, then :func:`write_sample`; returns the record."""
    return write_sample(compute_sample(model, layer, cfg, seed, query, progress), out, pictures)


def summary_table(record: dict) -> str:
    c = record["counts"]
    lines = [f"model {record['model']}  layer {record['layer']}  seed {record['seed']}",
             settings_line(record),
             f"kept boundaries {c['kept_boundaries']}/{c['units']}  samples {c['samples']}  "
             f"proposals {c['proposals']}  acceptance {c['acceptance_rate']:.2f}  rejected {c['rejected']}  "
             f"stop {c['stop_reason']}",
             f"BerOpt {c['ber_steps']} steps ({'converged' if c['ber_converged'] else 'NOT converged'}), "
             f"objective J {record['ber_objective']:.5f}, kept-unit error {record['kept_error']:.2e}",
             f"eps_L2 {record['calibration']['eps_l2']:.4f}  eps_Linf {record['calibration']['eps_linf']:.4f}",
             f"{'method':<10} {'img std':>8} {'NRS full':>9} {'relaxed':>8}  D similarity"]
    for name, m in record["metrics"].items():
        ds = " ".join(f"{v:.3f}" for v in m.get("discriminator_similarity", []))
        lines.append(f"{name:<10} {m['image_variation']:8.4f} {m['nrs_full']:9.3f} {m['nrs_relaxed']:8.3f}  {ds}")
    t = record["timings"]
    lines.append(f"time: egbas {t['egbas_s']:.2f} s (incl. compile), total {t['total_s']:.2f} s")
    return "\n".join(lines)
