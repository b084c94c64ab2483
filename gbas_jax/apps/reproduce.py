r"""``gbas-jax reproduce``: the paper's Section 4 on a loadable model.

For ``queries`` seeded queries and each target layer, :func:`~gbas_jax.apps.evaluation.evaluate_query`
(E-GBAS, the epsilon-L2 and epsilon-Linf baselines calibrated per query, every
method's metrics), and a Monte Carlo rejection baseline: uniform proposals in the
same box ``[z0 - I, z0 + I]``, accepted if in the region; its acceptance rate
against GB-RRT's (accepted samples per proposal), the paper's argument for the tree.

The statistics (Table 1: image variation, Table 2: discriminator similarity, the
NRS fractions of Definitions 4-5, the paired differences behind the verdicts) are
in :mod:`~gbas_jax.apps.statistics`, the markdown report in
:mod:`~gbas_jax.apps.markdown_report`, the pictures (Figures 4, 6, 7) in
:mod:`~gbas_jax.apps.figures`.  Output: ``report.md``, ``results.json`` with every
number, and the PNGs.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Dict, NamedTuple, Optional, Sequence, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np

from ..core import baselines
from ..core.latents import query_latents
from ..core.region import in_region
from ..io.atomic import atomic_folder
from ..io.checkpoint import Model, load_model
from ..io.outputs import stamp
from ..models import views
from ..runtime.egbas import egbas
from . import figures, kept_units, settings
from .common import write_json
from .evaluation import METHODS, evaluate_query
from .markdown_report import report_markdown
from .statistics import run_problems, summarise


def _mc_acceptance(gen, z0, layer, V, cfg, n, key):
    half = jnp.asarray(cfg.interval, jnp.float32)
    u = z0 + half * jax.random.uniform(key, (n, z0.shape[0]), minval=-1.0, maxval=1.0)
    return float(jnp.mean(in_region(gen, u, layer, V).astype(jnp.float32)))


class ReproduceRun(NamedTuple):
    """What ``reproduce`` computed: ``results`` (the JSON: per-query rows and the
    summary), sample images of the first queries ``(layer, query, method) ->
    (n, H, W, C)``, the first queries' images, the Figure 4 data (or None), and
    per layer what BerOpt learned for every query: ``layer -> (theta (Q, D_l),
    indicator (Q, D_l) int8)``."""

    results: dict
    kept_images: Dict[Tuple[int, int, str], np.ndarray]
    query_images: np.ndarray
    figure4: Optional[dict]
    boundaries: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}
    held: Dict[int, dict] = {}


def compute_reproduce(model: Union[str, Model] = "dcgan-mnist", layers: Optional[Sequence[int]] = None,
                      queries: int = 10, seed: int = 0, cfg=None, mc_proposals: int = 4096,
                      figure4_model: Union[None, str, Model] = "dcgan-mnist-2d",
                      progress: bool = True, *, space: Optional[str] = None, label: Optional[int] = None,
                      frozen_styles: bool = False) -> ReproduceRun:
    """Run the evaluation; nothing is written.  ``model`` / ``figure4_model``: loaded
    :class:`~gbas_jax.io.checkpoint.Model` s (or names or folders to load).  ``cfg``:
    as :func:`~gbas_jax.apps.settings.for_job` (``None``: the model's recommendation).
    ``space`` / ``label``: the generator view; ``frozen_styles``: every query runs
    in its frozen-styles control view at each layer (:mod:`gbas_jax.models.views`)."""
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    model = load_model(model)
    st = settings.for_job(model.folder, cfg, space)
    cfg, disc = st.config, model.discriminator
    gen = views.view(model.generator, space=space, label=label)
    layers = tuple(layers) if layers else tuple(range(1, min(4, gen.num_layers) + 1))
    model.folder.check_layers(layers, "layer")
    if queries < 2:
        raise ValueError("queries must be >= 2 (standard errors need two)")
    z0s = views.seeded_queries(gen, seed, queries)

    per_query = {layer: [] for layer in layers}
    learned = {layer: ([], []) for layer in layers}
    held = {}          # what the first query's kept and dropped units decode to, per layer
    keep = {}  # pictures: sample images of the first queries
    with tqdm(total=len(layers) * queries, desc="reproduce", disable=not progress) as bar:
        for layer in layers:
            for q in range(queries):
                bar.set_postfix_str(f"layer {layer}, query {q}")
                g = views.frozen_styles(gen, layer, z0s[q]) if frozen_styles else gen
                row, imgs, res = _one_query(g, disc, layer, z0s[q], cfg, mc_proposals,
                                            jax.random.fold_in(jax.random.key(seed + 1), layer * 100_003 + q))
                row["query"] = q
                per_channel = kept_units.layer_record(g, layer, res.indicator).get("kept_per_channel")
                if per_channel is not None:
                    row["kept_per_channel"] = per_channel
                if q == 0:
                    held[layer] = kept_units.held(g, layer, z0s[q], res.indicator)
                learned[layer][0].append(np.asarray(res.theta, np.float32))
                learned[layer][1].append(np.asarray(res.indicator, np.int8))
                per_query[layer].append(row)
                if q < 3:
                    keep.update({(layer, q, name): im for name, im in imgs.items()})
                bar.update(1)

    results = {**stamp("reproduce"), "model": model.name, **views.record(gen, frozen_styles),
               "layers": list(layers), "queries": queries,
               "layer_shapes": {str(l): [int(d) for d in gen.layer_shape(l)] for l in layers},
               "boundary_files": "layer{L}/theta.npy and layer{L}/indicator.npy (int8): one row per query; "
                                 "unit order row-major over layer_shapes[L]",
               "seed": seed, "config": dataclasses.asdict(cfg), "config_sources": dict(st.sources),
               "mc_proposals": mc_proposals, "device": jax.devices()[0].device_kind,
               "per_query": {str(k): v for k, v in per_query.items()},
               "summary": summarise(per_query, disc is not None),
               "problems": run_problems(per_query)}
    f4 = _figure4_data(load_model(figure4_model, discriminator=False), cfg, seed) if figure4_model else None
    if f4 is not None:
        results["figure4"] = f4["record"]
    results["seconds"] = round(time.perf_counter() - t_start, 1)
    boundaries = {l: (np.stack(t), np.stack(v)) for l, (t, v) in learned.items()}
    return ReproduceRun(results, keep, np.asarray(gen.generate(z0s[:3])), f4, boundaries, held)


def _one_query(gen, disc, layer, z0, cfg, mc_proposals, key):
    """One query and layer: the shared evaluation plus the Monte Carlo baseline."""
    k_run, k_l2, k_linf, k_mc = jax.random.split(key, 4)
    ev = evaluate_query(gen, disc, layer, z0, cfg, keys=(k_run, k_l2, k_linf))
    res, cal, info = ev.result, ev.calibration, ev.calibration_info
    n = len(ev.latents["E-GBAS"])
    row = {"query": None, "num_kept": int(res.num_kept), "units": int(res.indicator.shape[0]),
           "kept_error": float(res.kept_error), "ber_objective": float(res.objective),
           "ber_steps": int(res.ber_steps), "ber_converged": bool(res.ber_converged), "samples": n,
           "proposals": int(res.tree.num_proposals), "rejected": int(res.tree.num_rejected),
           "stop_reason": res.tree.stop().name.lower(),
           "problems": [p.code for p in ev.problems],
           "rejected_overflow": bool(res.tree.rejected_overflow),
           "egbas_acceptance": (n - 1) / max(1, int(res.tree.num_proposals)),
           "mc_acceptance": _mc_acceptance(gen, jnp.asarray(z0), layer, res.indicator, cfg, mc_proposals, k_mc),
           "eps_l2": cal.eps_l2, "eps_linf": cal.eps_linf, "min_dist": info.min_dist,
           "max_dist": info.max_dist, "calibration_fallback": info.fallback,
           "egbas_seconds": ev.timings["egbas_s"], "methods": {name: ev.metrics[name] for name in METHODS}}
    return row, ev.images, res


def write_reproduce(run: ReproduceRun, out: str) -> dict:
    """Write ``report.md``, ``results.json`` and the figures (whole or not at all)."""
    layers = run.results["layers"]
    results = dict(run.results)
    with atomic_folder(out) as tmp:
        figures.figure7(run.kept_images, run.query_images, layers, os.path.join(tmp, "figure7.png"))
        figures.figure6(run.kept_images, run.query_images, layers, os.path.join(tmp, "figure6.png"))
        if run.figure4 is not None:
            figures.figure4(run.figure4, os.path.join(tmp, "figure4.png"))
        for layer, (theta, indicator) in run.boundaries.items():
            os.makedirs(os.path.join(tmp, f"layer{layer}"))
            kept_units.save(os.path.join(tmp, f"layer{layer}"), theta, indicator)
            if layer in run.held:
                kept_units.figure(run.held[layer], indicator[0], results["layer_shapes"][str(layer)], layer,
                                  os.path.join(tmp, f"layer{layer}", "boundaries.png"),
                                  title=f"layer {layer}, query 0: {int(np.count_nonzero(indicator[0]))} of "
                                        f"{indicator.shape[1]} boundaries kept")
        with open(os.path.join(tmp, "report.md"), "w") as f:
            f.write(report_markdown(results))
        results["files"] = sorted(os.listdir(tmp)) + ["results.json"]
        write_json(os.path.join(tmp, "results.json"), results, indent=1)
    return results


#: Figure 4's tree: twice the run's capacity, at most this.  The figure shows the
#: calibration, which needs rejected candidates; at the 2-D model's recommended
#: 400 samples the seed-0 tree stays inside its region (nothing rejected), at
#: 1,000 it meets the boundary (14 rejected; 137 and 7,693 for seeds 2 and 1).
FIGURE4_MAX_CAPACITY = 1000
#: The settings of BerOpt's loop that Figure 4 takes from the run (a run with a
#: short loop gets a short loop there too; its other settings are the 2-D model's).
FIGURE4_FROM_RUN = ("ber_steps", "ber_tol", "ber_check", "ber_window")


def _figure4_data(model: Model, cfg, seed):
    gen = model.generator
    model.folder.require_latent_dim(2, "Figure 4")
    base = settings.resolve(model.folder, {}).config     # the 2-D model's own settings, the run's BerOpt loop
    c = dataclasses.replace(base, capacity=min(2 * cfg.capacity, FIGURE4_MAX_CAPACITY),
                            **{k: getattr(cfg, k) for k in FIGURE4_FROM_RUN})
    layer = 1
    z0 = query_latents(gen.latent_dim, seed)
    res = egbas(gen, z0, layer, c, key=jax.random.key(seed))
    cal, info = baselines.calibrate(res, return_info=True)
    s = res.tree.accepted()
    rej = res.tree.stored_rejected()
    record = {"model": model.name, "layer": layer, "query": z0.tolist(), "samples": len(s),
              "rejected": int(res.tree.num_rejected), "min_dist": info.min_dist, "max_dist": info.max_dist,
              "eps_l2": cal.eps_l2, "eps_linf": cal.eps_linf}
    return {"record": record, "samples": s, "rejected": rej, "z_avg": info.z_avg}
