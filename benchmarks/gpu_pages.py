"""The generated blocks of docs/performance.md that come from the GPU script's runs
(``bash benchmarks/gpu.sh`` on a lent H200: ``benchmarks/results/h200/``), each a
function of the repository root, registered in :data:`benchmarks.pages.BLOCKS`."""

from __future__ import annotations

import json
import os

H200 = os.path.join("benchmarks", "results", "h200")


def _load(root, *parts):
    with open(os.path.join(root, H200, *parts)) as f:
        return json.load(f)


def _runs(root, kind):
    runs = [r for r in _load(root, "precision.json")["runs"] if r["kind"] == kind]
    if kind == "egbas-converged":
        runs += _load(root, "precision_l6_converged.json")["runs"]
    return runs


def precision_table(root) -> str:
    d = _load(root, "precision.json")
    by = {}
    for r in d["runs"]:
        if r["kind"] == "egbas":
            by.setdefault(r["layer"], {})[r["ber_precision"]] = r
    lines = ["| layer (kept units, float32) | float32 | tf32 | bfloat16 | J rel. diff. to float32: noise / tf32 / bf16 "
             "| kept-set Jaccard: noise / tf32 / bf16 |", "|---|---|---|---|---|---|"]
    for layer, g in sorted(by.items()):
        f, t, b = g["float32"], g["tf32"], g["bfloat16"]
        lines.append(f"| {layer} ({f['num_kept']:,}) | {f['median_s']:.3f} s | {t['median_s']:.3f} s "
                     f"(**{f['median_s'] / t['median_s']:.2f}x**) | {b['median_s']:.3f} s "
                     f"({f['median_s'] / b['median_s']:.2f}x) | {f['noise_objective_rel']:.4f} / "
                     f"{t['objective_rel_vs_float32']:.4f} / {b['objective_rel_vs_float32']:.4f} "
                     f"| {f['noise_jaccard']:.3f} / {t['jaccard_vs_float32']:.3f} / {b['jaccard_vs_float32']:.3f} |")
    gaps = {p: [g["float32"]["noise_jaccard"] - g[p]["jaccard_vs_float32"] for _, g in sorted(by.items())]
            for p in ("tf32", "bfloat16")}
    worst_j = max(g[p]["objective_rel_vs_float32"] for g in by.values() for p in ("tf32", "bfloat16"))
    return "\n".join(lines) + (
        f"\n\nBoth reduced precisions keep J within {100 * worst_j:.2f} % of float32; the kept set's Jaccard "
        "index sits below the float32 noise floor by " + " / ".join(f"{x:.3f}" for x in gaps["tf32"])
        + " (tf32) and " + " / ".join(f"{x:.3f}" for x in gaps["bfloat16"]) + " (bfloat16) at layers "
        + " / ".join(str(k) for k in sorted(by)) + f". {d['device_kind']}, jax {d['jax']}, "
        f"`{H200}/precision.json`.")


def converged(root) -> str:
    runs = sorted(_runs(root, "egbas-converged"), key=lambda r: (r["ber_precision"], r["layer"]))
    parts = []
    for p in ("tf32", "bfloat16"):
        rs = [r for r in runs if r["ber_precision"] == p]
        parts.append(f"at {p} " + " / ".join(f"{r['median_s']:.3f}" for r in rs) + " s per call ("
                     + " / ".join(str(r["ber_steps"]) for r in rs) + " steps; converged: "
                     + ("all" if all(r["converged"] for r in rs) else "not all") + ")")
    layers = sorted({r["layer"] for r in runs})
    return (f"Converged BerOpt (library defaults), layers {' / '.join(map(str, layers))}: " + "; ".join(parts)
            + f" (`{H200}/precision.json`, layer 6 `precision_l6_converged.json`).")


def _span(xs) -> str:
    return f"{min(xs)}" if min(xs) == max(xs) else f"{min(xs)}-{max(xs)}"


def batches(root) -> str:
    out = []
    for name in ("batch.json", "batch_32.json"):
        r = _load(root, name)["runs"][0]
        out.append(f"{r['queries']} queries at layer {r['layer']}: {r['batch_s']:.2f} s after compilation, "
                   f"**{r['queries_per_s']:.2f} queries/s**, against {r['queries']} single calls in "
                   f"{r['single_calls_s']:.2f} s ({min(r['single_s']):.2f}-{max(r['single_s']):.2f} s each; "
                   f"{r['single_queries_per_s']:.2f} queries/s): {r['queries_per_s'] / r['single_queries_per_s']:.2f}x; "
                   f"BerOpt {_span(r['ber_steps'])} steps, trees of {_span(r['samples'])} samples")
    return "`egbas_batch` (vmapped, library defaults): " + "; ".join(out) + f" (`{H200}/batch*.json`)."


def dcgan_e2e(root) -> str:
    d = _load(root, "bench", "results.json")
    recs = d["records"]
    b = {r["impl"]: r for r in recs if r["kind"] == "batch"}
    rrt = sorted((r for r in recs if r["kind"] == "rrt" and r["impl"] == "jax"), key=lambda r: r["layer"])
    j, t = b["jax"], b["batched_torch"]
    return (f"`python -m benchmarks {' '.join(d['argv'])}` on the {d['machine'].get('cuda_device')}: "
            f"{j['queries']} `dcgan-mnist` queries at layer {j['layer']} in {j['batch_s']:.3f} s, "
            f"**{j['queries_per_s']:.1f} queries/s** (BerOpt {j['mean_ber_steps']:.0f} steps on average), against "
            f"`batched_torch` at {t['queries_per_s']:.2f} queries/s ({j['queries_per_s'] / t['queries_per_s']:.1f}x). "
            "That ratio mixes both questions: PyTorch ran the paper's BerOpt then (300 steps of 8 masks), "
            "gbas-jax its own; not re-measured with the library's BerOpt in PyTorch. GB-RRT alone (N 500, K 32), "
            "candidates per second vs `batched_torch` / `reference_torch`: "
            + ", ".join(f"layer {r['layer']} {r['speedup_vs_batched_torch']:.2f}x / {r['speedup_vs_reference_torch']:.1f}x"
                        for r in rrt) + f" (`{H200}/bench/results.json`).")


def _mb(b) -> str:
    return f"{b / 1e9:.2f} GB" if b >= 1e9 else f"{b / 1e6:.0f} MB"


def memory(root) -> str:
    """Peak device bytes of ``egbas_batch`` against the library's estimate
    ``generator_bytes + B x memory_per_query``, the estimate computed by the code as
    it is now (shapes only: an abstract generator of the run's widths)."""
    import jax

    import gbas_jax as gb
    d = _load(root, "memory.json")
    auto = {q: _load(root, f"memory_autotuning_{q}.json")["runs"][0] for q in (8, 32)}
    runs = sorted((r for r in d["runs"] if r["kind"] == "memory"), key=lambda r: r["queries"])
    layer = runs[0]["layer"]
    gen = jax.eval_shape(lambda: gb.models.pggan(key=jax.random.key(0), latent_dim=512, resolution=256,
                                                 max_width=512, bias_scale=0.1))
    per = gb.memory_per_query(gen, layer, gb.EGBASConfig(step_size=0.2))
    base = d["param_bytes"]
    est = {r["queries"]: base + r["queries"] * per for r in runs}
    ratio = {r["queries"]: r["peak_bytes"] / est[r["queries"]] for r in runs}
    lines = [f"Estimate `generator_bytes + B x memory_per_query` = {_mb(base)} + B x {_mb(per)} "
             f"(layer {layer}, `EGBASConfig()`; `ber_precision` auto, 4-byte values):", "",
             "| queries B | " + " | ".join(str(r["queries"]) for r in runs) + " |",
             "|---|" + "---|" * len(runs),
             "| peak | " + " | ".join(_mb(r["peak_bytes"]) for r in runs) + " |",
             "| estimate | " + " | ".join(_mb(est[r["queries"]]) for r in runs) + " |",
             "| peak / estimate | " + " | ".join(f"{ratio[r['queries']]:.2f}" for r in runs) + " |", ""]
    per_q = {r["queries"]: (r["peak_bytes"] - base) / r["queries"] for r in runs}
    lines.append(f"Peak / estimate {min(ratio.values()):.2f}-{max(ratio.values()):.2f} (the estimate "
                 f"{1 / max(ratio.values()):.2f}-{1 / min(ratio.values()):.2f}x of the peak); measured bytes per "
                 f"query above the parameters {_mb(per_q[8])} at 8 queries and {_mb(per_q[32])} at 32. With the "
                 f"autotuner's scratch counted (a process that compiles and autotunes): {_mb(auto[8]['peak_bytes'])} "
                 f"at 8 queries, {_mb(auto[32]['peak_bytes'])} at 32. {d['device_kind']}, jax {d['jax']} "
                 f"(`{H200}/memory.json`, `memory_autotuning_*.json`).")
    return "\n".join(lines)


BLOCKS = {
    "h200-memory": memory,
    "h200-precision": precision_table,
    "h200-converged": converged,
    "h200-batches": batches,
    "h200-dcgan-e2e": dcgan_e2e,
}
