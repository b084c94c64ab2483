"""The generated blocks of docs/performance.md that come from runs of ``python -m
benchmarks`` (the comparison with the PyTorch references): each a function of the
repository root, registered in :data:`benchmarks.pages.BLOCKS`.  Rates and ratios
are read from the run's ``results.json``; the rows are :mod:`benchmarks.summary`'s,
the same the run's ``report.md`` prints."""

from __future__ import annotations

import json
import os
from typing import Callable, List

from .summary import below_one, side_by_side

#: The committed CPU run every block below reads (``python -m benchmarks --out ...``).
CPU_RUN = os.path.join("benchmarks", "results", "cpu")

MODEL_NAMES = {"dcgan-mnist": "`dcgan-mnist`", "dcgan64": "DCGAN 64x64", "pggan64": "PGGAN 64x64",
               "stylegan2-64": "StyleGAN2 64x64", "dcgan-mnist-random": "DCGAN-MNIST-sized, random"}


def _load(root, folder, name="results.json"):
    with open(os.path.join(root, folder, name)) as f:
        return json.load(f)


def _x(v, nd=2, lower=False, upper=False, at_cap=False) -> str:
    if v is None:
        return "n/a"
    s = f"{v:.{nd}f}x" if v < 100 else f"{v:.0f}x"
    return s + (" (lower bound)" if lower else "") + (" (upper bound)" if upper else "") + \
        (" (same steps, target not reached)" if at_cap else "")


def _rate(v) -> str:
    return "n/a" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.3g}")


def _s(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _name(m) -> str:
    return MODEL_NAMES.get(m, f"`{m}`")


def run_line(d: dict, folder: str, report: str = "report.md") -> str:
    """Which run, where, with what: the line every block ends with."""
    m = d["machine"]
    command = d.get("command") or "python -m benchmarks " + " ".join(d.get("argv", []))
    commit = d.get("git_commit")
    return (f"`{command}` ({m['processor']}, {m['cpus']} CPUs, backend {m['backend']}"
            + (f", {m['cuda_device']}" if m.get("cuda_device") else "")
            + f"; jax {m['jax']}, torch {m.get('torch')}, {m.get('torch_threads')} torch threads"
            + (f"; commit {commit[:7]}" if commit else "")
            + f"; {d['elapsed_s'] / 60:.0f} min in all; every row in `{folder}/{report}`).")


def suite_run(root) -> str:
    d = _load(root, CPU_RUN)
    return "The committed run: " + run_line(d, CPU_RUN)


def two_questions(root) -> str:
    """(a) and (b) side by side for every model and layer of the run."""
    d = _load(root, CPU_RUN)
    rows = side_by_side(d["records"])
    lines = ["| model | layer | (a) GB-RRT, candidates/s | (a) GB-RRT, accepted/s | (a) BerOpt to objective "
             "| (b) BerOpt: plain over library | (b) GB-RRT: K = 32 over K = 1 | library BerOpt to objective, s "
             "| target set by |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("rrt_a") is None and r.get("tto_a") is None:
            continue
        target = (f"{r['plain_steps']:,} plain steps" if r.get("plain_steps") else "n/a")
        q = f", median of {r['queries']} queries" if r["queries"] > 1 else ""
        lines.append(f"| {_name(r['model'])} | {r['layer']} | {_x(r.get('rrt_a'))} | {_x(r.get('rrt_a_accepted'))} "
                     f"| {_x(r.get('tto_a'), lower=r.get('tto_a_lower'), at_cap=r.get('tto_a_at_cap'))} "
                     f"| {_x(r.get('tto_b'), 1, lower=r.get('tto_b_lower'), upper=r.get('tto_b_upper'))} "
                     f"| {_x(r.get('rrt_b'))} "
                     f"| {_s(r.get('tto_s'))} "
                     f"| {target}{q} |")
    batch = {r["impl"]: r for r in d["records"] if r["kind"] == "batch" and r["group"] == "targets"}
    j, t = batch.get("jax"), batch.get("batched_torch")
    out = "\n".join(lines)
    if j and t:
        out += (f"\n\nEnd to end, `EGBASConfig()` in both (the library's BerOpt until it converges, then GB-RRT to "
                f"{j['capacity']} samples; `{j['model']}` layer {j['layer']}): gbas-jax `egbas_batch` "
                f"{j['queries_per_s']:.2f} queries/s ({j['queries']} queries), batched PyTorch "
                f"{t['queries_per_s']:.2f} queries/s ({t['queries']} queries one after another): **(a) "
                f"{j['queries_per_s'] / t['queries_per_s']:.2f}x**.")
    return out + "\n\n" + run_line(d, CPU_RUN)


def tto_queries(root) -> str:
    """BerOpt to the objective, query by query, with the sequential reference where it ran."""
    d = _load(root, CPU_RUN)
    recs = [r for r in d["records"] if r["kind"] == "tto"]
    by = {}
    for r in recs:
        by.setdefault((r["model"], r["layer"], r["query"]), {})[(r["impl"], r.get("algorithm"))] = r
    lines = ["| model | layer | query | target J | gbas-jax library: steps, s | batched PyTorch library: steps, s "
             "| gbas-jax plain: steps, s | sequential PyTorch plain: steps, s | (a) | vs the paper's algorithm |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    order = {"dcgan-mnist": 0, "dcgan64": 1, "pggan64": 2}

    def cell(r):
        if r is None:
            return "not run"
        return f"{r['tto_steps']:,}{'' if r['reached'] else ' (cap)'}, {r['tto_s']:.3g}"
    for (m, layer, q), g in sorted(by.items(), key=lambda kv: (order.get(kv[0][0], 9),) + kv[0][1:]):
        j = g.get(("jax", "library"))
        if j is None:
            continue
        trivial = " (met by the starting mask)" if j.get("target_trivial") else ""
        lines.append(f"| {_name(m)} | {layer} | {q} | {j['target']:.4g}{trivial} | {cell(j)} "
                     f"| {cell(g.get(('batched_torch', 'library')))} | {cell(g.get(('jax', 'paper')))} "
                     f"| {cell(g.get(('reference_torch', 'paper')))} "
                     f"| {_x(j.get('speedup_vs_batched_torch'), lower=j.get('speedup_vs_batched_torch_is_lower_bound'), at_cap=j.get('speedup_vs_batched_torch_at_cap'))} "
                     f"| {_x(j.get('speedup_vs_reference_torch'), 0, lower=j.get('speedup_vs_reference_torch_is_lower_bound')) if ('reference_torch', 'paper') in g else 'not run'} |")
    return "\n".join(lines) + "\n\n" + run_line(d, CPU_RUN)


def rrt_table(folder: str, rate: str = "candidates", groups=("targets",), models=None,
              name: str = "results.json") -> Callable[[str], str]:
    """GB-RRT per implementation: ``rate`` ``"candidates"`` (membership tests per
    second, the comparison since the 3-seed medians) or ``"accepted"``."""
    def block(root) -> str:
        d = _load(root, folder, name)
        recs = [r for r in d["records"] if r["kind"] == "rrt" and r["group"] in groups
                and (models is None or r["model"] in models) and r.get("proposals", 32) != 1]
        by = {}
        for r in recs:
            by.setdefault((r["model"], r["layer"]), {})[r["impl"]] = r
        key = f"{rate}_per_s"
        lines = [f"| model, layer | kept / units | gbas-jax path | {rate}/s gbas-jax | batched PyTorch "
                 "| sequential PyTorch | vs batched | vs sequential (accepted/s) |",
                 "|---|---|---|---|---|---|---|---|"]
        for (m, layer), g in by.items():
            j = g.get("jax")
            if j is None:
                continue
            b, s = g.get("batched_torch"), g.get("reference_torch")
            ratio = lambda a, c, k: a[k] / c[k] if c and c.get(k) else None  # noqa: E731
            lines.append(f"| {_name(m)}, {layer} | {j['num_kept']:,} / {j['layer_units']:,} | {j['path']} "
                         f"| {_rate(j.get(key))} | {_rate(b and b.get(key))} | {_rate(s and s.get(key))} "
                         f"| {_x(ratio(j, b, key))} | {_x(ratio(j, s, 'accepted_per_s'), 1)} |")
        return "\n".join(lines) + "\n\n" + run_line(d, folder, name.replace("results.json", "report.md"))
    return block


def beropt_steps(root) -> str:
    d = _load(root, CPU_RUN)
    rows = [r for r in d["records"] if r["kind"] == "beropt" and r["impl"] == "jax"]
    parts = [f"{_name(r['model'])} layer {r['layer']}: {r['ber_steps_per_s']:,.0f} steps/s, "
             f"{_x(r.get('speedup_vs_batched_torch'))} batched PyTorch"
             + (f", {_x(r.get('speedup_vs_reference_torch'))} the sequential one" if r.get('speedup_vs_reference_torch')
                else "")
             for r in rows]
    return ("BerOpt per step, the plain algorithm (8 masks a step) in every implementation, fixed step count: "
            + "; ".join(parts) + ".")


def sweeps(root) -> str:
    d = _load(root, CPU_RUN)
    recs = [r for r in d["records"] if r["kind"] == "rrt" and r.get("impl") == "jax"
            and r.get("speedup_vs_batched_torch") is not None]
    out: List[str] = []
    for group, var, label in (("capacity", "capacity", "N"), ("proposals", "proposals", "K"),
                              ("latent", "latent_dim", "latent")):
        rs = sorted((r for r in recs if r["group"] == group), key=lambda r: r[var])
        if rs:
            out.append(f"{label} = " + " / ".join(f"{r[var]:,}" for r in rs) + ": "
                       + " / ".join(_x(r["speedup_vs_batched_torch"]) for r in rs))
    for m in dict.fromkeys(r["model"] for r in recs if r["group"] == "layer"):
        rs = sorted((r for r in recs if r["group"] == "layer" and r["model"] == m), key=lambda r: r["layer"])
        out.append(f"{_name(m)} layers " + " / ".join(str(r["layer"]) for r in rs) + ": "
                   + " / ".join(_x(r["speedup_vs_batched_torch"]) for r in rs)
                   + " (accepted/s " + " / ".join(_x(r.get("accepted_speedup_vs_batched_torch")) for r in rs) + ")")
    return ("GB-RRT sweeps, gbas-jax's candidates tested per second over batched PyTorch's (K = 32, N = 500 "
            "unless swept): " + "; ".join(out) + ".")


def efficiency(root) -> str:
    d = _load(root, CPU_RUN)
    effs = [(r.get("efficiency") or r.get("ber_efficiency"), r) for r in d["records"]
            if (r.get("efficiency") or r.get("ber_efficiency")) is not None]
    over = [(e, r) for e, r in effs if e > 1]
    lo, hi = min(e for e, _ in effs), max(e for e, _ in effs)
    top = sorted(over, key=lambda er: -er[0])[:3]
    return (f"In this run efficiency ranges from {lo:.2f} to {hi:.2f}; {len(over)} of {len(effs)} records exceed 1"
            + (" (highest: " + ", ".join(f"{e:.2f} for {r['impl']} on {_name(r['model'])} layer {r['layer']}, "
                                         f"{r['kind']} {r['group']}" for e, r in top) + ")" if top else "") + ".")


def below(root) -> str:
    d = _load(root, CPU_RUN)
    pts = below_one(d["records"])
    if not pts:
        return "No point of this run is below 1.0x in (a)."
    rows = ["| model | layer | measurement | group | K | gbas-jax over batched PyTorch | in accepted/s |",
            "|---|---|---|---|---|---|---|"]
    for r in pts:
        rows.append(f"| {_name(r['model'])} | {r['layer']} | {r['kind']} | {r['group']} | {r.get('proposals', '')} "
                    f"| {_x(r['speedup_vs_batched_torch'], 3)} | {_x(r.get('accepted_speedup_vs_batched_torch'), 3)} |")
    return "\n".join(rows)


def conv_threads(root) -> str:
    """``python -m benchmarks conv-threads``: each convolution alone, both libraries,
    the whole CPU and one core."""
    with open(os.path.join(root, CPU_RUN, "conv_threads.json")) as f:
        d = json.load(f)
    n = d["cores"]
    lines = [f"| convolution (batch {d['batch']}) | XLA, {n} cores | XLA, 1 core | PyTorch, {n} threads "
             "| PyTorch, 1 thread |", "|---|---|---|---|---|"]
    for r in d["rows"]:
        shape = "x".join(r["input"].split("x")[1:])
        lines.append(f"| {r['layer']}: {r['kind']} {shape} -> {r['c_out']} | {r[f'xla_{n}_us'] / 1e3:.2f} ms "
                     f"| {r['xla_1_us'] / 1e3:.2f} ms | {r[f'torch_{n}_us'] / 1e3:.2f} ms "
                     f"| {r['torch_1_us'] / 1e3:.2f} ms |")
    return "\n".join(lines) + (f"\n\n`{d['command']}` (jax {d['jax']}, torch {d['torch']}; "
                               f"`{CPU_RUN}/conv_threads.json`).")


def kept_rule(root) -> str:
    """The kept path's CPU rule and how it was fitted (``python -m benchmarks
    kept-crossover``), with the points it sends the slower way."""
    from .kept_crossover import _regret, rule_summary

    from gbas_jax.core import kept
    d = _load(root, CPU_RUN, "kept_crossover.json")
    _, wrong = _regret(d["rows"], lambda r: r["mac_ratio"] > kept.min_mac_ratio("cpu", r["sizes"][1], r["sizes"][0]))
    points = "; ".join(f"{_name(r['model'])} layer {r['layer']} at {r['sizes'][0]} x {r['sizes'][1]}: "
                       f"{r['speedup']:.2f}x" for r in wrong)
    return (rule_summary(d) + f"\n\nThe rule's slower choices (speed-up of the kept path): {points or 'none'}."
            + f"\n\n`{d['command']}` ({d['device']}, jax {d['jax']}; `{CPU_RUN}/kept_crossover.md`).")


def below_one_profile(root) -> str:
    """``python -m benchmarks below-one``: each cost of the points below 1.0x, alone,
    in both implementations."""
    d = _load(root, CPU_RUN, "below_one.json")
    rows = d["rows"]
    out = ["| BerOpt step (8 masks) | decoder forward, batch 8: gbas-jax / PyTorch ms | masked loss forward "
           "| loss forward and backward | (a) of the step |", "|---|---|---|---|---|"]
    for r in (r for r in rows if r["kind"] == "ber_step"):
        cells = [f"{r[f'jax_{p}_ms']:.2f} / {r[f'torch_{p}_ms']:.2f} ({r[f'{p}_ratio']:.2f}x)"
                 for p in ("decode", "loss", "loss_and_grad")]
        out.append(f"| {_name(r['model'])} layer {r['layer']} | " + " | ".join(cells)
                   + f" | {r['loss_and_grad_ratio']:.2f}x |")
    out += ["", "| BerOpt call, library algorithm | steps | gbas-jax s | PyTorch s | fixed cost gbas-jax / PyTorch ms "
            "| per step gbas-jax / PyTorch ms |", "|---|---|---|---|---|---|"]
    for r in (r for r in rows if r["kind"] == "ber_call"):
        out.append(f"| {_name(r['model'])} layer {r['layer']} | {' / '.join(map(str, r['steps']))} "
                   f"| {' / '.join(f'{t:.3f}' for t in r['jax_s'])} | {' / '.join(f'{t:.3f}' for t in r['torch_s'])} "
                   f"| {1e3 * r['jax_fixed_s']:.1f} / {1e3 * r['torch_fixed_s']:.1f} "
                   f"| {1e3 * r['jax_per_step_s']:.2f} / {1e3 * r['torch_per_step_s']:.2f} |")
    out += ["", "| membership test | K | gbas-jax path | gbas-jax ms | PyTorch ms | (a) |", "|---|---|---|---|---|---|"]
    for r in (r for r in rows if r["kind"] == "membership"):
        latent = f" (latent {r['latent_dim']})" if r["model"] == "dcgan-mnist-random" else ""
        out.append(f"| {_name(r['model'])}{latent} layer {r['layer']} | {r['proposals']} | {r['path']} "
                   f"| {r['jax_ms']:.2f} | {r['torch_ms']:.2f} | {r['ratio']:.2f}x |")
    for r in (r for r in rows if r["kind"] == "rrt_order"):
        c = r["candidates_per_s"]
        out += ["", f"The benchmark's GB-RRT job at {_name(r['model'])} layer {r['layer']} (targets group), run first "
                f"in a fresh process, gbas-jax and batched PyTorch alternating: {c[0]:,.0f} / {c[1]:,.0f} "
                f"candidates/s the first time ({r['first_ratio']:.2f}x), {c[2]:,.0f} / {c[3]:,.0f} the second "
                f"({r['second_ratio']:.2f}x)."]
    for r in (r for r in rows if r["kind"] == "first_calls"):
        w = r["window"]
        spans = " / ".join(f"{i * w + 1}-{(i + 1) * w}" for i in range(3))
        out += ["", f"A program's first calls ({_name(r['model'])} layer {r['layer']}'s membership test, "
                f"K = {r['proposals']}, after {r['idle_s']:g} s idle; medians of {r['trials']} trials): gbas-jax "
                f"{r['jax_first_ms']:.2f} ms the first call, {' / '.join(f'{t:.2f}' for t in r['jax_windows_ms'])} ms "
                f"over calls {spans}, {r['jax_after_warm_up_ms']:.2f} ms after the warm-up; PyTorch "
                f"{r['torch_first_ms']:.2f} ms, {' / '.join(f'{t:.2f}' for t in r['torch_windows_ms'])} ms, "
                f"{r['torch_after_warm_up_ms']:.2f} ms."]
    for r in (r for r in rows if r["kind"] == "after_torch"):
        out += ["", f"The same gbas-jax test alone: {r['jax_alone_ms']:.2f} ms; called right after each PyTorch "
                f"call: {r['jax_after_torch_ms']:.2f} ms (PyTorch's alone: {r['torch_alone_ms']:.2f} ms; medians "
                f"of {r['calls']} calls)."]
    m = d["machine"]
    malloc = m.get("malloc")
    out += ["", "glibc malloc thresholds fixed (trim {trim_bytes:,} B, mmap {mmap_bytes:,} B; "
            "`benchmarks.common.steady_malloc`).".format(**malloc) if malloc
            else "glibc malloc thresholds left to adapt (no `steady_malloc`)."]
    return "\n".join(out) + (f"\n\n`{d['command']}` ({m['processor']}, {m['cpus']} CPUs; jax {m['jax']}, "
                             f"torch {m.get('torch')}; commit {(d.get('git_commit') or '?')[:7]}; "
                             f"`{CPU_RUN}/below_one.json`).")


BLOCKS = {
    "suite-run": suite_run,
    "two-questions": two_questions,
    "suite-tto": tto_queries,
    "suite-targets": rrt_table(CPU_RUN),
    "suite-beropt-steps": beropt_steps,
    "suite-sweeps": sweeps,
    "suite-efficiency": efficiency,
    "suite-below-one": below,
    "suite-stylegan2": rrt_table(CPU_RUN, groups=("stylegan2",)),
    "conv-threads": conv_threads,
    "kept-rule": kept_rule,
    "below-one-profile": below_one_profile,
    "h100-targets": rrt_table(os.path.join("benchmarks", "results", "h100"), rate="accepted",
                              name="bench_results.json"),
}
