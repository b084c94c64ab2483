r"""``gbas-jax reproduce``: the paper's Section 4 on a loadable model.

For ``queries`` seeded queries and each target layer: E-GBAS, the epsilon-L2 and
epsilon-Linf baselines calibrated per query (:mod:`gbas_jax.core.baselines`), and

* Table 1: image variation (per-pixel std) of each method's samples, mean and
  standard error over queries;
* Table 2: cosine similarity of discriminator features to the query's, per block;
* the fraction of samples satisfying the full NRS condition (Definition 4) and the
  relaxed one (Definition 5: inside the region of the kept boundaries);
* a Monte Carlo rejection baseline: uniform proposals in the same box
  ``[z0 - I, z0 + I]``, accepted if in the region; its acceptance rate against
  GB-RRT's (accepted samples per proposal), the paper's argument for the tree.

Pictures: Figure 4 on the 2-D model (accepted and rejected samples, their mean and
the L2 balls of the min, max and calibrated radius), Figure 6 (per-pixel std maps per
target layer) and Figure 7 (query, epsilon-L2 samples, E-GBAS samples).  Output: a
markdown report, ``results.json`` with every number, and the PNGs.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Dict, NamedTuple, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core import baselines
from ..core.egbas import egbas
from ..core.metrics import sample_set_metrics
from ..core.queries import query_latents
from ..core.region import in_region
from ..io.atomic import atomic_folder
from ..io.checkpoint import load_discriminator, load_pretrained, read_architecture
from ..io.outputs import stamp
from . import figures, health, settings
from .common import as_settings, write_json

METHODS = ("E-GBAS", "eps-L2", "eps-Linf")


def _mean_se(values):
    v = np.asarray(values, np.float64)
    se = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")
    return {"mean": float(v.mean()), "se": se}


def _mc_acceptance(gen, z0, layer, V, cfg, n, key):
    half = jnp.asarray(cfg.interval, jnp.float32)
    u = z0 + half * jax.random.uniform(key, (n, z0.shape[0]), minval=-1.0, maxval=1.0)
    return float(jnp.mean(in_region(gen, u, layer, V).astype(jnp.float32)))


class ReproduceRun(NamedTuple):
    """What ``reproduce`` computed: ``results`` (the JSON: per-query rows and the
    summary), sample images of the first queries ``(layer, query, method) ->
    (n, H, W, C)``, the first queries' images, and the Figure 4 data (or None)."""

    results: dict
    kept_images: Dict[Tuple[int, int, str], np.ndarray]
    query_images: np.ndarray
    figure4: Optional[dict]


def compute_reproduce(model: str = "dcgan-mnist", layers: Optional[Sequence[int]] = None, queries: int = 10,
                      seed: int = 0, cfg=None, mc_proposals: int = 4096,
                      figure4_model: Optional[str] = "dcgan-mnist-2d", progress: bool = True) -> ReproduceRun:
    """Run the evaluation; nothing is written.  ``cfg``: an
    :class:`~gbas_jax.EGBASConfig` or :class:`~gbas_jax.apps.settings.Settings`;
    default: the model's recommendation over the library defaults."""
    from tqdm.auto import tqdm

    st = settings.resolve(read_architecture(model), {}) if cfg is None else as_settings(cfg)
    cfg = st.config
    t_start = time.perf_counter()
    gen = load_pretrained(model)
    disc = load_discriminator(model) if read_architecture(model).get("discriminator") else None
    layers = tuple(layers) if layers else tuple(range(1, min(4, gen.num_layers) + 1))
    for layer in layers:
        if not 1 <= layer <= gen.num_layers:
            raise ValueError(f"layer {layer} is outside 1..{gen.num_layers} for {model!r}")
    if queries < 2:
        raise ValueError("queries must be >= 2 (standard errors need two)")
    z0s = query_latents(gen.latent_dim, seed, queries)

    per_query = {layer: [] for layer in layers}
    keep = {}  # pictures: sample images of the first queries
    with tqdm(total=len(layers) * queries, desc="reproduce", disable=not progress) as bar:
        for layer in layers:
            for q in range(queries):
                bar.set_postfix_str(f"layer {layer}, query {q}")
                row, imgs = _one_query(gen, disc, layer, z0s[q], cfg, mc_proposals,
                                       jax.random.fold_in(jax.random.key(seed + 1), layer * 100_003 + q))
                row["query"] = q
                per_query[layer].append(row)
                if q < 3:
                    keep.update({(layer, q, name): im for name, im in imgs.items()})
                bar.update(1)

    results = {**stamp("reproduce"), "model": model, "layers": list(layers), "queries": queries, "seed": seed,
               "config": dataclasses.asdict(cfg), "config_sources": dict(st.sources), "mc_proposals": mc_proposals,
               "device": jax.devices()[0].device_kind, "per_query": {str(k): v for k, v in per_query.items()},
               "summary": _summarise(per_query, disc is not None),
               "problems": _problems(per_query)}
    f4 = _figure4_data(figure4_model, cfg, seed) if figure4_model else None
    if f4 is not None:
        results["figure4"] = f4["record"]
    results["seconds"] = round(time.perf_counter() - t_start, 1)
    return ReproduceRun(results, keep, np.asarray(gen.generate(z0s[:3])), f4)


def _one_query(gen, disc, layer, z0, cfg, mc_proposals, key):
    """E-GBAS, both baselines and their metrics for one query and layer."""
    k_run, k_l2, k_linf, k_mc = jax.random.split(key, 4)
    t = time.perf_counter()
    res = jax.block_until_ready(egbas(gen, z0, layer, cfg, key=k_run))
    t_egbas = time.perf_counter() - t
    zs = {"E-GBAS": res.tree.accepted()}
    n = len(zs["E-GBAS"])
    cal, info = baselines.calibrate(res, return_info=True)
    zs["eps-L2"] = np.asarray(baselines.sample_l2_ball(z0, cal.eps_l2, n, key=k_l2))
    zs["eps-Linf"] = np.asarray(baselines.sample_linf_ball(z0, cal.eps_linf, n, key=k_linf))
    row = {"query": None, "num_kept": int(res.num_kept), "units": int(res.theta.shape[0]),
           "kept_error": float(res.kept_error), "ber_objective": float(res.objective),
           "ber_steps": int(res.ber_steps), "ber_converged": bool(res.ber_converged), "samples": n,
           "proposals": int(res.tree.num_proposals), "rejected": int(res.tree.num_rejected),
           "stop_reason": res.tree.stop().name.lower(),
           "problems": [p.code for p in health.egbas_problems(res, info)],
           "rejected_overflow": bool(res.tree.rejected_overflow),
           "egbas_acceptance": (n - 1) / max(1, int(res.tree.num_proposals)),
           "mc_acceptance": _mc_acceptance(gen, jnp.asarray(z0), layer, res.indicator, cfg, mc_proposals, k_mc),
           "eps_l2": cal.eps_l2, "eps_linf": cal.eps_linf, "min_dist": info.min_dist,
           "max_dist": info.max_dist, "calibration_fallback": info.fallback,
           "egbas_seconds": t_egbas, "methods": {}}
    imgs = {}
    for name in METHODS:
        row["methods"][name], imgs[name] = sample_set_metrics(gen, disc, layer, z0, res.indicator, zs[name])
    return row, imgs


def _problems(per_query) -> list:
    """Warnings of the whole run: one per layer and kind of problem, with counts.
    None is fatal: the report's verdicts say which rest on incomplete trees."""
    out = []
    for layer, rows in per_query.items():
        codes = sorted({c for r in rows for c in r["problems"]})
        for code in codes:
            k = sum(code in r["problems"] for r in rows)
            out.append(health.Problem(code, f"layer {layer}: {k} of {len(rows)} queries: "
                                            f"{_PROBLEM_WORDS.get(code, code)}", False).as_dict())
    return out


_PROBLEM_WORDS = {"max_iterations": "the tree stopped at max_iterations before it was full",
                  "ber_not_converged": "BerOpt stopped at its cap before it converged",
                  "too_few_samples": "fewer than 2 samples", "no_kept_boundaries": "no boundary kept",
                  "rejected_overflow": "more rejections than the rejected buffer holds",
                  "calibration_fallback": "nothing rejected (eps_L2 from the samples instead)"}


def write_reproduce(run: ReproduceRun, out: str) -> dict:
    """Write ``report.md``, ``results.json`` and the figures (whole or not at all)."""
    layers = run.results["layers"]
    results = dict(run.results)
    with atomic_folder(out) as tmp:
        figures.figure7(run.kept_images, run.query_images, layers, os.path.join(tmp, "figure7.png"))
        figures.figure6(run.kept_images, run.query_images, layers, os.path.join(tmp, "figure6.png"))
        if run.figure4 is not None:
            _figure4_plot(run.figure4, os.path.join(tmp, "figure4.png"))
        with open(os.path.join(tmp, "report.md"), "w") as f:
            f.write(report_markdown(results))
        results["files"] = sorted(os.listdir(tmp)) + ["results.json"]
        write_json(os.path.join(tmp, "results.json"), results, indent=1)
    return results


def run_reproduce(model: str = "dcgan-mnist", layers: Optional[Sequence[int]] = None, queries: int = 10,
                  seed: int = 0, cfg=None, out: str = "out/reproduce",
                  mc_proposals: int = 4096, figure4_model: Optional[str] = "dcgan-mnist-2d",
                  progress: bool = True) -> dict:
    """:func:`compute_reproduce`, then :func:`write_reproduce`; returns the results."""
    return write_reproduce(compute_reproduce(model, layers, queries, seed, cfg, mc_proposals, figure4_model,
                                             progress), out)


def _summarise(per_query, has_disc):
    summary = {}
    for layer, rows in per_query.items():
        s = {"num_kept": _mean_se([r["num_kept"] for r in rows]),
             "egbas_acceptance": _mean_se([r["egbas_acceptance"] for r in rows]),
             "mc_acceptance": _mean_se([r["mc_acceptance"] for r in rows]),
             "eps_l2": _mean_se([r["eps_l2"] for r in rows]),
             "rejected_overflow_queries": int(sum(r["rejected_overflow"] for r in rows)),
             "incomplete_trees": int(sum(r["stop_reason"] != "capacity" for r in rows)),
             "methods": {}}
        for name in METHODS:
            ms = [r["methods"][name] for r in rows]
            m = {"image_variation": _mean_se([x["image_variation"] for x in ms]),
                 "nrs_full": _mean_se([x["nrs_full"] for x in ms]),
                 "nrs_relaxed": _mean_se([x["nrs_relaxed"] for x in ms])}
            if has_disc:
                blocks = np.asarray([x["discriminator_similarity"] for x in ms])
                m["discriminator_similarity"] = [_mean_se(blocks[:, b]) for b in range(blocks.shape[1])]
            s["methods"][name] = m
        iv = {n: s["methods"][n]["image_variation"]["mean"] for n in METHODS}
        s["egbas_lowest_variation"] = iv["E-GBAS"] < min(iv["eps-L2"], iv["eps-Linf"])
        # Paired comparison across queries: is the difference larger than its noise?
        diffs = {b: [r["methods"]["E-GBAS"]["image_variation"] - r["methods"][b]["image_variation"]
                     for r in rows] for b in ("eps-L2", "eps-Linf")}
        s["variation_difference_vs"] = {b: _mean_se(d) for b, d in diffs.items()}
        if has_disc:
            s["egbas_highest_similarity_per_block"] = [
                all(s["methods"]["E-GBAS"]["discriminator_similarity"][b]["mean"]
                    > s["methods"][o]["discriminator_similarity"][b]["mean"] for o in ("eps-L2", "eps-Linf"))
                for b in range(len(s["methods"]["E-GBAS"]["discriminator_similarity"]))]
        summary[str(layer)] = s
    return summary


def _fmt(ms, digits=4):
    return f"{ms['mean']:.{digits}f} ± {ms['se']:.{digits}f}"


def report_markdown(r: dict) -> str:
    layers = [str(x) for x in r["layers"]]
    S = r["summary"]
    lines = [f"# E-GBAS evaluation: `{r['model']}`", "",
             f"{r['queries']} queries (seed {r['seed']}), layers {', '.join(layers)}, device {r['device']}, "
             f"{r['seconds']} s. Mean ± standard error over queries. Settings: `{json.dumps(r['config'])}`.", "",
             "## Table 1: image variation (per-pixel std of the samples' images; lower = more consistent)", "",
             "| method | " + " | ".join(f"layer {l}" for l in layers) + " |",
             "|---|" + "---|" * len(layers)]
    for name in METHODS:
        lines.append(f"| {name} | " + " | ".join(_fmt(S[l]["methods"][name]["image_variation"]) for l in layers) + " |")
    lines += ["", "E-GBAS minus baseline, paired over queries (negative = E-GBAS varies less):", "",
              "| baseline | " + " | ".join(f"layer {l}" for l in layers) + " |", "|---|" + "---|" * len(layers)]
    for b in ("eps-L2", "eps-Linf"):
        lines.append(f"| {b} | " + " | ".join(_fmt(S[l]["variation_difference_vs"][b]) for l in layers) + " |")
    has_disc = "discriminator_similarity" in S[layers[0]]["methods"]["E-GBAS"]
    if has_disc:
        nb = len(S[layers[0]]["methods"]["E-GBAS"]["discriminator_similarity"])
        lines += ["", "## Table 2: discriminator similarity (mean cosine similarity to the query's features; "
                      "higher = more consistent)", ""]
        for l in layers:
            lines += [f"Target layer {l}:", "", "| method | " + " | ".join(f"D block {b + 1}" for b in range(nb)) + " |",
                      "|---|" + "---|" * nb]
            for name in METHODS:
                lines.append(f"| {name} | " + " | ".join(
                    _fmt(x) for x in S[l]["methods"][name]["discriminator_similarity"]) + " |")
            lines.append("")
    lines += ["## NRS fractions and acceptance rates", "",
              "| layer | kept boundaries | NRS full (E-GBAS / L2 / Linf) | relaxed NRS (E-GBAS / L2 / Linf) | "
              "GB-RRT acceptance | Monte Carlo acceptance |", "|---|---|---|---|---|---|"]
    for l in layers:
        s = S[l]
        full = " / ".join(f"{s['methods'][n]['nrs_full']['mean']:.3f}" for n in METHODS)
        rel = " / ".join(f"{s['methods'][n]['nrs_relaxed']['mean']:.3f}" for n in METHODS)
        lines.append(f"| {l} | {s['num_kept']['mean']:.0f} | {full} | {rel} | "
                     f"{_fmt(s['egbas_acceptance'], 3)} | {_fmt(s['mc_acceptance'], 3)} |")
    lines += ["", "## Do the paper's claims hold here?", ""]
    for l in layers:
        s = S[l]
        d = s["variation_difference_vs"]
        weak = [b for b in d if not d[b]["mean"] + 2 * d[b]["se"] < 0]
        claim1 = ("yes" if s["egbas_lowest_variation"] else "no") + (
            " (by more than two standard errors of the paired difference against both baselines)" if not weak else
            " (but not by more than two standard errors against "
            + ", ".join(f"{b}: {d[b]['mean']:+.4f} ± {d[b]['se']:.4f}" for b in weak) + ")")
        text = f"- Layer {l}: lower image variation than both baselines: {claim1}."
        if has_disc:
            hs = s["egbas_highest_similarity_per_block"]
            text += (f" Higher discriminator similarity than both baselines at "
                     f"{sum(hs)} of {len(hs)} blocks.")
        text += (f" GB-RRT accepted {s['egbas_acceptance']['mean']:.3f} of its proposals against "
                 f"{s['mc_acceptance']['mean']:.3f} for uniform rejection sampling in the same box.")
        if s["incomplete_trees"]:
            text += (f" These verdicts rest on incomplete data: {s['incomplete_trees']} of {len(r['per_query'][l])} "
                     "trees stopped at max_iterations before they were full.")
        lines.append(text)
    lines += ["", "## Figures", "", "Figure 7: query, epsilon-L2 samples, E-GBAS samples (first queries, each target layer).", "",
              "![figure 7](figure7.png)", "",
              "Figure 6: per row, the query's image, then the per-pixel standard deviation of its E-GBAS "
              f"samples at target layers {', '.join(layers)} (one shared scale per row; brighter = more variation).", "",
              "![figure 6](figure6.png)", ""]
    if "figure4" in r:
        f4 = r["figure4"]
        lines += [f"Figure 4 (`{f4['model']}`, layer {f4['layer']}): accepted (black) and rejected (red) "
                  f"samples, their mean (blue) and the L2 balls of the min ({f4['min_dist']:.3f}), max "
                  f"({f4['max_dist']:.3f}) and calibrated ({f4['eps_l2']:.3f}) radius.", "",
                  "![figure 4](figure4.png)", ""]
    return "\n".join(lines)


#: Figure 4's tree: twice the run's capacity, at most this.  The figure shows the
#: calibration, which needs rejected candidates; at the 2-D model's recommended
#: 400 samples the seed-0 tree stays inside its region (nothing rejected), at
#: 1,000 it meets the boundary (14 rejected; 137 and 7,693 for seeds 2 and 1).
FIGURE4_MAX_CAPACITY = 1000


def _figure4_data(model, cfg, seed):
    gen = load_pretrained(model)  # a clear ValueError for an unknown name or folder
    base = settings.resolve(read_architecture(model), {}).config     # the 2-D model's own settings
    c = dataclasses.replace(base, capacity=min(2 * cfg.capacity, FIGURE4_MAX_CAPACITY), ber_steps=cfg.ber_steps)
    layer = 1
    z0 = query_latents(gen.latent_dim, seed)
    res = egbas(gen, z0, layer, c, key=jax.random.key(seed))
    cal, info = baselines.calibrate(res, return_info=True)
    s = res.tree.accepted()
    rej = res.tree.stored_rejected()
    record = {"model": model, "layer": layer, "query": z0.tolist(), "samples": len(s),
              "rejected": int(res.tree.num_rejected), "min_dist": info.min_dist, "max_dist": info.max_dist,
              "eps_l2": cal.eps_l2, "eps_linf": cal.eps_linf}
    return {"record": record, "samples": s, "rejected": rej, "z_avg": info.z_avg}


def _figure4_plot(f4, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r, s, rej = f4["record"], f4["samples"], f4["rejected"]
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(s[:, 0], s[:, 1], s=4, c="k", label=f"accepted ({len(s)})")
    if len(rej):
        ax.scatter(rej[:, 0], rej[:, 1], s=6, c="r", marker="x", lw=0.7, label=f"rejected ({len(rej)} stored)")
    ax.scatter([f4["z_avg"][0]], [f4["z_avg"][1]], s=60, c="b", label="mean of accepted")
    for rad, col, lab in ((r["min_dist"], "red", "min"), (r["max_dist"], "orange", "max"),
                          (r["eps_l2"], "blue", "eps_L2")):
        ax.add_patch(plt.Circle(f4["z_avg"], rad, fill=False, color=col, lw=1.2, label=f"{lab} = {rad:.3f}"))
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(f"{r['model']}, layer {r['layer']}: calibration of eps_L2")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
