"""The markdown report of ``gbas-jax reproduce`` (``report.md``): Tables 1-2, the
NRS fractions and acceptance rates, the verdicts on the paper's claims, the figures."""

from __future__ import annotations

import json

from .evaluation import METHODS


def _fmt(ms, digits=4):
    return f"{ms['mean']:.{digits}f} ± {ms['se']:.{digits}f}"


def report_markdown(r: dict) -> str:
    """``report.md`` from a reproduce run's ``results.json``."""
    layers = [str(x) for x in r["layers"]]
    S = r["summary"]
    lines = [f"# E-GBAS evaluation: `{r['model']}`", "",
             f"{r['queries']} queries (seed {r['seed']}), layers {', '.join(layers)}, device {r['device']}, "
             f"{r['seconds']} s. Mean ± standard error over queries. Settings: `{json.dumps(r['config'])}`."
             + (f" Command: `{r['command']}`." if r.get("command") else ""), "",
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
    lines += [f"- {v}" for v in verdicts(r)]
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


def verdicts(r: dict) -> list:
    """One sentence per layer: do the paper's claims hold (``results.json`` of a
    reproduce run)?"""
    layers = [str(x) for x in r["layers"]]
    S = r["summary"]
    has_disc = "discriminator_similarity" in S[layers[0]]["methods"]["E-GBAS"]
    out = []
    for l in layers:
        s = S[l]
        d = s["variation_difference_vs"]
        weak = [b for b in d if not d[b]["mean"] + 2 * d[b]["se"] < 0]
        claim1 = ("yes" if s["egbas_lowest_variation"] else "no") + (
            " (by more than two standard errors of the paired difference against both baselines)" if not weak else
            " (but not by more than two standard errors against "
            + ", ".join(f"{b}: {d[b]['mean']:+.4f} ± {d[b]['se']:.4f}" for b in weak) + ")")
        text = f"Layer {l}: lower image variation than both baselines: {claim1}."
        if has_disc:
            hs = s["egbas_highest_similarity_per_block"]
            text += (f" Higher discriminator similarity than both baselines at "
                     f"{sum(hs)} of {len(hs)} blocks")
            if "similarity_difference_vs" in s:
                text += " (paired, E-GBAS minus eps-L2 per block: " + ", ".join(
                    f"{x['mean']:+.4f} ± {x['se']:.4f}" for x in s["similarity_difference_vs"]["eps-L2"]) + ")"
            text += "."
        text += (f" GB-RRT accepted {s['egbas_acceptance']['mean']:.3f} of its proposals against "
                 f"{s['mc_acceptance']['mean']:.3f} for uniform rejection sampling in the same box.")
        if s["incomplete_trees"]:
            text += (f" These verdicts rest on incomplete data: {s['incomplete_trees']} of {len(r['per_query'][l])} "
                     "trees stopped at max_iterations before they were full.")
        out.append(text)
    return out
