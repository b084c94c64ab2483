"""``gbas-jax sample``: E-GBAS on one query plus the paper's baselines and metrics.

:func:`compute_sample` runs everything and returns a :class:`SampleRun`;
:func:`write_sample` writes it to an output folder.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Dict, NamedTuple, Optional, Union

import jax
import numpy as np

from ..core.results import EGBASResult
from ..io.atomic import atomic_folder
from ..io.checkpoint import Model, load_model
from ..io.outputs import stamp
from ..io.query_input import read_query_file
from ..models import views
from . import figures, health, kept_units, settings
from .common import Progress, write_json
from .evaluation import calibration_record, counts, evaluate_query, query_keys


class SampleRun(NamedTuple):
    """Everything one ``sample`` run computed.

    record: the JSON record (settings, counts, calibration, metrics, timings);
    result: the :class:`~gbas_jax.EGBASResult`; latents: ``method -> (n, Dz)``;
    images: ``method -> (n, H, W, C)``; query_image ``(1, H, W, C)``; held: what
    the kept and the dropped units decode to (:func:`gbas_jax.apps.kept_units.held`).
    """

    record: dict
    result: EGBASResult
    latents: Dict[str, np.ndarray]
    images: Dict[str, np.ndarray]
    query_image: np.ndarray
    held: Dict[str, np.ndarray]


def compute_sample(model: Union[str, Model] = "dcgan-mnist", layer: int = 2, cfg=None, seed: int = 0,
                   query: Union[None, str, np.ndarray] = None, progress: bool = True, *,
                   space: Optional[str] = None, label: Optional[int] = None,
                   frozen_styles: bool = False) -> SampleRun:
    """Run E-GBAS and both baselines for one query: the seed's
    (:func:`gbas_jax.models.views.seeded_queries`), or ``query`` (a ``(Dz,)`` array
    or a ``.npy`` file, in the view's latent).  ``model``: a loaded
    :class:`~gbas_jax.io.checkpoint.Model` (or a name or folder to load).  ``cfg``:
    :class:`~gbas_jax.apps.settings.Settings`, an :class:`~gbas_jax.EGBASConfig`,
    or ``None`` for the model's recommendation (:func:`~gbas_jax.apps.settings.for_job`).
    ``space`` / ``label`` / ``frozen_styles``: the generator view
    (:mod:`gbas_jax.models.views`)."""
    t_all = time.perf_counter()
    loaded_before = isinstance(model, Model)
    model = load_model(model)
    st = settings.for_job(model.folder, cfg, space)
    cfg, gen = st.config, views.view(model.generator, space=space, label=label)
    if query is None:
        z0 = views.seeded_queries(gen, seed)
    elif isinstance(query, str):
        z0 = read_query_file(query, gen.latent_dim)
    else:
        z0 = np.asarray(query, np.float32)
    if frozen_styles:
        gen = views.frozen_styles(gen, layer, z0)
    with Progress("sample", ["E-GBAS (BerOpt + GB-RRT, incl. compile)", "baselines", "metrics"],
                  progress) as bar:
        ev = evaluate_query(gen, model.discriminator, layer, z0, cfg, keys=query_keys(jax.random.key(seed)),
                            progress=bar)
    query_img = np.asarray(gen.generate(z0[None]))
    res = ev.result
    record = {
        **stamp("sample"),
        "model": model.name, "layer": layer, "seed": seed, **views.record(gen, frozen_styles),
        "query": query if isinstance(query, str) else
        (None if query is None else [float(v) for v in z0]),
        "config": dataclasses.asdict(cfg), "config_sources": dict(st.sources),
        "counts": counts(res),
        **kept_units.layer_record(gen, layer, res.indicator),
        "ber_loss": float(res.ber_loss), "kept_error": float(res.kept_error), "ber_objective": float(res.objective),
        "calibration": calibration_record(ev),
        "metrics": ev.metrics,
        "problems": health.as_records(ev.problems),
        "device": jax.devices()[0].device_kind,
        "timings": {"load_s": model.load_seconds, **ev.timings},
    }
    record["timings"]["total_s"] = time.perf_counter() - t_all + (model.load_seconds if loaded_before else 0.0)
    held = kept_units.held(gen, layer, z0, res.indicator)
    record["held"] = {"kept_error": held["kept_error"], "dropped_error": held["dropped_error"]}
    return SampleRun(record, res, ev.latents, ev.images, query_img, held)


def view_title(record: dict) -> str:
    """The view in a picture's title: ``"label 3"``, ``"space w"``, ... (empty for a
    plain model)."""
    parts = [f"space {record['space']}"] if "space" in record else []
    parts += [f"label {record['label']}"] if record.get("label") is not None else []
    parts += ["styles above frozen"] if record.get("frozen_styles") else []
    return ", ".join(parts)


def write_sample(run: SampleRun, out: str, pictures: int = 12) -> dict:
    """Write the output folder (whole or not at all); returns the final record."""
    t = time.perf_counter()
    record = dict(run.record)
    with atomic_folder(out) as tmp:
        figures.sample_figure(run.query_image, run.images, record["layer"], pictures,
                              os.path.join(tmp, "samples.png"), view=view_title(record))
        kept_units.figure(run.held, run.result.indicator, record["layer_shape"], record["layer"],
                          os.path.join(tmp, "boundaries.png"),
                          title=f"{view_title(record) + ', ' if view_title(record) else ''}layer {record['layer']}: "
                                f"{record['counts']['kept_boundaries']} of {record['counts']['units']} "
                                "boundaries kept")
        kept_units.save(tmp, run.result.theta, run.result.indicator)
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


def summary_table(record: dict) -> str:
    c = record["counts"]
    view = view_title(record)
    lines = [f"model {record['model']}  layer {record['layer']}  seed {record['seed']}" + (f"  ({view})" if view else ""),
             settings.from_record(record).describe(),
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
