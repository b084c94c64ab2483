"""The statistics of ``gbas-jax reproduce``: per layer, the mean and standard error
over queries of every metric, the paired differences behind the verdicts, and the
run's warnings."""

from __future__ import annotations

import math

import numpy as np

from . import health
from .evaluation import METHODS


def mean_se(values) -> dict:
    """``{"mean", "se"}`` of ``values`` (``se`` NaN for fewer than two)."""
    v = np.asarray(values, np.float64)
    se = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")
    return {"mean": float(v.mean()), "se": se}


def summarise(per_query, has_disc: bool) -> dict:
    """Per layer: means and standard errors over queries, the verdicts' paired differences."""
    summary = {}
    for layer, rows in per_query.items():
        s = {"num_kept": mean_se([r["num_kept"] for r in rows]),
             "egbas_acceptance": mean_se([r["egbas_acceptance"] for r in rows]),
             "mc_acceptance": mean_se([r["mc_acceptance"] for r in rows]),
             "eps_l2": mean_se([r["eps_l2"] for r in rows]),
             "rejected_overflow_queries": int(sum(r["rejected_overflow"] for r in rows)),
             "incomplete_trees": int(sum(r["stop_reason"] != "capacity" for r in rows)),
             "methods": {}}
        for name in METHODS:
            ms = [r["methods"][name] for r in rows]
            m = {"image_variation": mean_se([x["image_variation"] for x in ms]),
                 "nrs_full": mean_se([x["nrs_full"] for x in ms]),
                 "nrs_relaxed": mean_se([x["nrs_relaxed"] for x in ms])}
            if has_disc:
                blocks = np.asarray([x["discriminator_similarity"] for x in ms])
                m["discriminator_similarity"] = [mean_se(blocks[:, b]) for b in range(blocks.shape[1])]
            s["methods"][name] = m
        iv = {n: s["methods"][n]["image_variation"]["mean"] for n in METHODS}
        s["egbas_lowest_variation"] = iv["E-GBAS"] < min(iv["eps-L2"], iv["eps-Linf"])
        # Paired comparison across queries: is the difference larger than its noise?
        diffs = {b: [r["methods"]["E-GBAS"]["image_variation"] - r["methods"][b]["image_variation"]
                     for r in rows] for b in ("eps-L2", "eps-Linf")}
        s["variation_difference_vs"] = {b: mean_se(d) for b, d in diffs.items()}
        if has_disc:
            s["egbas_highest_similarity_per_block"] = [
                all(s["methods"]["E-GBAS"]["discriminator_similarity"][b]["mean"]
                    > s["methods"][o]["discriminator_similarity"][b]["mean"] for o in ("eps-L2", "eps-Linf"))
                for b in range(len(s["methods"]["E-GBAS"]["discriminator_similarity"]))]
            # the same paired comparison for Table 2, per discriminator block
            # (positive = E-GBAS stays closer to the query)
            sims = {n: np.asarray([r["methods"][n]["discriminator_similarity"] for r in rows]) for n in METHODS}
            s["similarity_difference_vs"] = {
                b: [mean_se(sims["E-GBAS"][:, k] - sims[b][:, k]) for k in range(sims[b].shape[1])]
                for b in ("eps-L2", "eps-Linf")}
        summary[str(layer)] = s
    return summary


def run_problems(per_query) -> list:
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
