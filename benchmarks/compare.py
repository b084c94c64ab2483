"""``python -m benchmarks``: gbas-jax against PyTorch references, with sweeps.

    python -m benchmarks [compare] [--quick] [--out DIR] [--device cpu|cuda] [--skip-sweeps]
                         [--models dcgan-mnist,dcgan64] [--precision highest]

Writes ``DIR/results.json`` (every record, the settings and the machine),
``DIR/report.md`` (tables: targets, sweeps, kept-path savings) and PNG plots of
speed-up and efficiency against each sweep variable.  ``--quick`` runs tiny sizes
as a smoke test (CI); it asserts nothing about speed.  Definitions of every
figure: :mod:`benchmarks.suite`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

from .common import record_header, write_json, write_text


#: BerOpt time to objective per model: queries, the plain algorithm's step count that
#: sets the target, and whether the sequential reference runs too.  ``dcgan-mnist``:
#: the committed J* table (3,000 steps, ``benchmarks/results/beropt/jstar.json``); the
#: random 64x64 models: the plain BerOpt's lowest J at a check in ``cap`` steps in
#: this run (one step of 8 masks costs 12-50 ms on the DCGAN and 0.3-0.4 s on the PGGAN
#: on this 2-core CPU, so 3,000 would take hours).  ``ber_lambda``, set in both
#: algorithms: 0.01 on the DCGAN, whose images move so little when units are dropped
#: that the default drops nearly all of them; the default 0.1 on the PGGAN, whose
#: images move a lot: at 0.01 the plain BerOpt's J stayed within 2 % of keeping every
#: unit (J = lambda) at layers 1, 3 and 4, which made the 1.03 x target one that the
#: starting mask already met.
TTO = {"dcgan-mnist": dict(queries=(0, 1, 2), cap=3000, reference=True, changes={}),
       "dcgan64": dict(queries=(0,), cap=1000, reference=False, changes={"ber_lambda": 0.01}),
       "pggan64": dict(queries=(0,), cap=200, reference=False, changes={})}


def tto_models(models):
    return [m for m in dict.fromkeys(["dcgan-mnist", *models, "pggan64"]) if m in TTO]


def plan(quick: bool, models, skip_sweeps: bool, has_torch: bool, e2e_queries=None):
    """The list of measurements: dicts with a ``kind`` and its settings.
    ``e2e_queries``: queries of the end-to-end runs (default 64 for gbas-jax, 8 for
    PyTorch, whose queries run one after another)."""
    from .suite import has_torch_mirror
    torch_impls = ("batched_torch", "reference_torch") if has_torch else ()
    n_main = 64 if quick else 500
    jobs = []
    for m in models:
        for layer in (1, 2):
            impls = ("jax",) + (torch_impls if has_torch_mirror(m) else ())
            jobs += [dict(kind="rrt", group="targets", model=m, layer=layer, capacity=n_main, proposals=32, impl=i)
                     for i in impls]
        impls = ("jax",) + (torch_impls if has_torch_mirror(m) else ())
        jobs += [dict(kind="beropt", group="targets", model=m, layer=2, steps=10 if quick else 50, impl=i)
                 for i in impls]
        jobs.append(dict(kind="kept", group="kept", model=m, layer=2))
    # BerOpt time to objective, layers 1-4.  Two questions (issue 24): (a) the
    # implementation, one algorithm: gbas-jax's BerOpt in gbas-jax and in batched
    # PyTorch; (b) the algorithm, one implementation: the paper's plain BerOpt and the
    # library's, both in gbas-jax.  The sequential reference runs the paper's
    # algorithm ("vs the paper's algorithm"), on the trained model only (on the 64x64
    # models it would add about an hour of this CPU).
    for m in ((models[0],) if quick else tto_models(models)):
        spec = TTO[m]
        runs = [("jax", "library"), ("jax", "paper")]
        if has_torch and has_torch_mirror(m):
            runs += [("batched_torch", "library")] + ([("reference_torch", "paper")] if spec["reference"] else [])
        for layer in ((2,) if quick else (1, 2, 3, 4)):
            for q in ((0,) if quick else spec["queries"]):
                jobs += [dict(kind="tto", group="targets", model=m, layer=layer, query=q,
                              cap=60 if quick else spec["cap"], impl=i, algorithm=a) for i, a in runs]
    q = 4 if quick else (e2e_queries or 64)
    # End to end, one algorithm: the library's defaults (BerOpt until it converges) in
    # gbas-jax and in batched PyTorch (queries one after another).
    jobs.append(dict(kind="batch", group="targets", model=models[0], layer=2, queries=q, impl="jax",
                     ber_steps=100 if quick else 2000, capacity=n_main, algorithm="library"))
    if has_torch and has_torch_mirror(models[0]):
        jobs.append(dict(kind="batch", group="targets", model=models[0], layer=2, queries=2 if quick else (e2e_queries or 8),
                         impl="batched_torch", ber_steps=100 if quick else 2000, capacity=n_main,
                         algorithm="library"))
    if not quick:
        # StyleGAN2 (the mirror's weights): GB-RRT at two layers, BerOpt per step at one
        sg2 = "stylegan2-64"
        impls = ("jax",) + torch_impls[:1]
        for layer in (2, 4):
            jobs += [dict(kind="rrt", group="stylegan2", model=sg2, layer=layer, capacity=n_main, proposals=32,
                          impl=i) for i in impls]
        jobs += [dict(kind="beropt", group="stylegan2", model=sg2, layer=4, steps=20, impl=i) for i in impls]
    if skip_sweeps:
        return jobs
    m0 = models[0]
    caps = (32, 96) if quick else (100, 500, 2000, 5000)
    for n in caps:
        for i in ("jax",) + torch_impls:
            if i == "reference_torch" and n > 2000:
                continue
            jobs.append(dict(kind="rrt", group="capacity", model=m0, layer=2, capacity=n, proposals=32, impl=i))
    for k in ((8, 32) if quick else (8, 32, 128)):
        for i in ("jax",) + torch_impls[:1]:
            jobs.append(dict(kind="rrt", group="proposals", model=m0, layer=2, capacity=n_main, proposals=k, impl=i))
    # (b) the algorithm: GB-RRT with one proposal per iteration (the paper's), in gbas-jax
    jobs.append(dict(kind="rrt", group="proposals", model=m0, layer=2, capacity=n_main, proposals=1, impl="jax"))
    layer_models = list(models) + ([] if quick else ["pggan64"])
    for m in layer_models:
        for layer in ((1, 2) if quick else (1, 2, 3, 4)):
            impls = ("jax",) + (torch_impls if has_torch_mirror(m) else ())
            for i in impls:
                jobs.append(dict(kind="rrt", group="layer", model=m, layer=layer, capacity=n_main, proposals=32,
                                 impl=i))
            # (b) GB-RRT's K proposals against the paper's one, in gbas-jax
            jobs.append(dict(kind="rrt", group="layer", model=m, layer=layer, capacity=n_main, proposals=1,
                             impl="jax"))
            jobs.append(dict(kind="kept", group="kept", model=m, layer=layer))
    for dz in ((8, 32) if quick else (16, 100, 256)):
        for i in ("jax",) + torch_impls[:1]:
            jobs.append(dict(kind="rrt", group="latent", model="dcgan-mnist-random", latent_dim=dz, layer=2,
                             capacity=n_main, proposals=32, impl=i))
    for b in ((1, 2) if quick else (1, 4, 16, 64)):
        jobs.append(dict(kind="batch", group="queries", model=m0, layer=2, queries=b, impl="jax",
                         ber_steps=100 if quick else 2000, capacity=n_main))
    return jobs


def run_job(job, device, kept_fraction, cache, quick=False):
    import jax
    import jax.numpy as jnp

    import gbas_jax as gb

    from . import suite
    gen = suite.model(job["model"], job.get("latent_dim"))
    impl, kind = job.get("impl"), job["kind"]
    if kind == "tto":
        return dict(job, **_tto(job, gen, device, cache))
    # BerOpt per step: the plain algorithm in every implementation (fixed steps); end to
    # end: the library's defaults in every implementation.
    base = suite.PLAIN if kind == "beropt" else gb.EGBASConfig()
    window = min(base.ber_window, job.get("ber_steps", base.ber_steps))
    cfg = base.replace(capacity=job.get("capacity", 500), proposals=job.get("proposals", 32),
                       ber_steps=job.get("ber_steps", base.ber_steps), ber_window=window,
                       ber_check=min(base.ber_check, window), **suite.config_changes(job["model"]),
                       **({"max_iterations": 200} if quick else {}))
    z0 = jax.random.normal(jax.random.key(1), (gen.latent_dim,))
    layer = job["layer"]
    rkey = (job["model"], job.get("latent_dim"), layer)
    if rkey not in cache:
        # The latent sweep keeps the constraints per latent dimension constant: 2 % of
        # 6,272 signs (125 boundaries) left a 16-dimensional latent a region so small
        # that neither tree filled, which measured no speed at all.
        frac = kept_fraction * job["latent_dim"] / 100 if job.get("latent_dim") else kept_fraction
        cache[rkey] = suite.region_for(job["model"], gen, z0, layer, gb.EGBASConfig(), frac)
    V, region = cache[rkey]
    out = dict(job, region=region, num_kept=int(np.count_nonzero(V)), layer_units=gen.layer_size(layer),
               latent_dim=gen.latent_dim, step_size=cfg.step_size, max_iterations=cfg.max_iterations)
    if kind == "rrt":
        seeds = suite.SEEDS[:1] if quick else suite.SEEDS
        out.update(suite.jax_rrt(gen, z0, layer, V, cfg, seeds=seeds) if impl == "jax"
                   else suite.torch_rrt(impl, gen, z0, layer, V, cfg, device=device, seeds=seeds))
    elif kind == "beropt":
        out.update(suite.jax_beropt(gen, z0, layer, cfg, job["steps"]) if impl == "jax"
                   else suite.torch_beropt(impl, gen, z0, layer, cfg, job["steps"], device=device))
    elif kind == "batch":
        z0s = jax.random.normal(jax.random.key(2), (job["queries"], gen.latent_dim))
        if job["model"] != "dcgan-mnist":   # random models: a lambda that keeps some units
            cfg = dataclasses.replace(cfg, ber_lambda=0.01)
        out.update(suite.jax_batch(gen, z0s, layer, cfg) if impl == "jax"
                   else suite.torch_batch(impl, gen, np.asarray(z0s), layer, cfg, device=device,
                                          beropt=job.get("algorithm", "paper")))
    elif kind == "kept":
        out.update(suite.kept_savings(gen, layer, jnp.asarray(V)))
    return out


def _tto(job, gen, device, cache) -> dict:
    """Time to objective: target = 1.03 x the J the plain algorithm reaches in
    ``cap`` steps (:data:`TTO`; for ``dcgan-mnist`` the committed J*, run ``old-3000``
    of ``benchmarks/results/beropt/jstar.json``)."""
    import jax

    import gbas_jax as gb

    from . import suite
    spec = TTO[job["model"]]
    z0 = np.asarray(jax.random.normal(jax.random.key(7), (3, gen.latent_dim)), np.float32)[job["query"]]
    key = ("tto", job["model"], job["layer"], job["query"], job["cap"])
    trace = None
    if job["model"] == "dcgan-mnist" and job["cap"] == 3000:
        ref = json.load(open(os.path.join(os.path.dirname(__file__), "results", "beropt", "jstar.json")))
        row = next(r for r in ref["rows"] if r["layer"] == job["layer"] and r["query"] == job["query"])
        plain_j, source = row["runs"]["old-3000"]["objective"], "benchmarks/results/beropt/jstar.json (old-3000)"
        target = 1.03 * plain_j
    else:
        if key not in cache:
            cache[key] = suite.plain_target(gen, z0, job["layer"], job["cap"], spec["changes"])
        target, trace = cache[key]
        plain_j, source = target / 1.03, f"gbas-jax's plain BerOpt, {job['cap']} steps, this run"
    # Both algorithms start with every unit kept, whose J is exactly lambda (no
    # reconstruction error): a target at or above it would be met by doing nothing.
    start_j = spec["changes"].get("ber_lambda", gb.EGBASConfig().ber_lambda)
    algorithm = job["algorithm"]
    if job["impl"] == "jax":
        out = suite.jax_time_to_objective(gen, z0, job["layer"], target, job["cap"], algorithm=algorithm,
                                          changes=spec["changes"], trace=trace if algorithm == "paper" else None)
    else:
        out = suite.torch_time_to_objective(job["impl"], gen, z0, job["layer"], target, job["cap"], device,
                                            algorithm=algorithm, changes=spec["changes"])
    return dict(out, target=target, plain_objective=plain_j, plain_steps=job["cap"], target_source=source,
                start_objective=start_j, target_trivial=bool(target >= start_j), **spec["changes"])


def _speedups(records):
    """Add ``speedup_vs_<impl>`` to JAX records from the matching torch records."""
    def key(r):
        # PyTorch runs batches query by query on fewer queries: compare rates, not sizes.
        fields = ("kind", "group", "model", "layer", "capacity", "proposals", "latent_dim", "steps", "query") + \
            (() if r["kind"] == "batch" else ("queries",))
        return tuple(r.get(k) for k in fields)
    by = {}
    for r in records:
        by.setdefault(key(r), {})[(r.get("impl"), r.get("algorithm"))] = r
    for group in by.values():
        # (a) gbas-jax against each reference: the same algorithm where the reference
        # runs it (batched_torch, "library"), else the paper's (reference_torch).
        j = group.get(("jax", "library")) or group.get(("jax", None))
        if j is None:
            continue
        paper = group.get(("jax", "paper"))
        if paper is not None and paper.get("tto_s") and j.get("tto_s") and (j.get("reached") or paper.get("reached")):
            # (b) the algorithm's gain, both in gbas-jax.  A run that never reached the
            # target stands for more time than it took: the ratio is then a lower bound
            # (the plain one capped) or an upper bound (the library's capped).
            j["algorithm_gain"] = paper["tto_s"] / j["tto_s"]
            j["algorithm_gain_is_lower_bound"] = not paper.get("reached")
            j["algorithm_gain_is_upper_bound"] = not j.get("reached")
        for impl in ("batched_torch", "reference_torch"):
            t = next((group[k] for k in ((impl, "library"), (impl, None), (impl, "paper")) if k in group), None)
            if t is None:
                continue
            j[f"vs_{impl}_algorithm"] = t.get("algorithm") or "paper"
            # GB-RRT: membership tests (candidates) per second, so that the luck of
            # the draw (how many candidates a tree needs) does not count; the
            # accepted-samples rate is reported beside it.
            for rate in ("candidates_per_s", "ber_steps_per_s", "queries_per_s"):
                if rate in j and rate in t and t[rate]:
                    j[f"speedup_vs_{impl}"] = j[rate] / t[rate]
                    break
            if "accepted_per_s" in j and t.get("accepted_per_s"):
                j[f"accepted_speedup_vs_{impl}"] = j["accepted_per_s"] / t["accepted_per_s"]
            same_cap = (not j.get("reached") and not t.get("reached") and j.get("tto_steps") == t.get("tto_steps")
                        and j.get("algorithm") == t.get("algorithm"))
            if "tto_s" in j and "tto_s" in t and (j.get("reached") or same_cap):
                # If the reference never reached the target, its time is a lower bound: so
                # is the ratio.  If neither did, both ran the same algorithm for the same
                # number of steps (the cap): a like-for-like time, flagged as such.
                j[f"speedup_vs_{impl}"] = t["tto_s"] / j["tto_s"]
                j[f"speedup_vs_{impl}_is_lower_bound"] = not t.get("reached") and not same_cap
                j[f"speedup_vs_{impl}_at_cap"] = same_cap


def _rrt_algorithm_gains(records):
    """(b) for GB-RRT: each gbas-jax proposals-sweep row's accepted samples per second
    over the one-proposal run's (the paper's algorithm), same model and layer."""
    rows = [r for r in records if r.get("group") in ("proposals", "layer") and r["kind"] == "rrt"
            and r.get("impl") == "jax"]
    for r in rows:
        one = next((o for o in rows if o["proposals"] == 1 and o["model"] == r["model"] and o["layer"] == r["layer"]
                    and o["group"] == r["group"]), None)
        if one is not None and one.get("accepted_per_s"):
            r["gain_vs_one_proposal"] = r["accepted_per_s"] / one["accepted_per_s"]


def _fmt(x, nd=3):
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.{nd}g}"
    return str(x)


def report(records, machine, args, elapsed) -> str:
    lines = ["# gbas-jax benchmarks\n",
             f"Command: `python -m benchmarks {' '.join(args.argv)}`  ",
             f"Machine: {machine['processor']}, {machine['cpus']} CPUs, backend {machine['backend']} "
             f"({', '.join(machine['devices'])}); jax {machine['jax']}, torch {machine.get('torch')}"
             + (f", CUDA device {machine['cuda_device']}" if machine.get("cuda_device") else "")
             + f"; matmul precision {args.precision}; {elapsed:.0f} s in all.\n"]
    cols_rrt = ["model", "layer", "capacity", "proposals", "latent_dim", "impl", "region", "num_kept", "path",
                "accepted", "candidates", "rrt_s", "accepted_per_s", "candidates_per_s", "efficiency", "nn_s",
                "compile_s", "speedup_vs_batched_torch", "speedup_vs_reference_torch",
                "accepted_speedup_vs_batched_torch", "accepted_speedup_vs_reference_torch", "gain_vs_one_proposal"]
    cols_ber = ["model", "layer", "impl", "ber_steps", "ber_s", "ber_steps_per_s", "ber_efficiency",
                "ber_compile_s", "speedup_vs_batched_torch", "speedup_vs_reference_torch"]
    cols_batch = ["model", "layer", "impl", "queries", "ber_steps", "capacity", "mean_ber_steps", "mean_iterations",
                  "batch_s", "queries_per_s", "efficiency", "batch_compile_s", "peak_device_bytes",
                  "speedup_vs_batched_torch"]
    cols_kept = ["model", "layer", "layer_units", "num_kept", "sizes", "full_macs", "kept_macs", "mac_ratio",
                 "prefix_us", "full_us", "kept_us", "time_ratio"]

    def table(title, rows, cols):
        rows = [r for r in rows]
        if not rows:
            return
        cols = [c for c in cols if any(r.get(c) is not None for r in rows)]
        lines.append(f"\n## {title}\n")
        lines.append("| " + " | ".join(cols) + " |")
        lines.append("|" + "---|" * len(cols))
        for r in rows:
            lines.append("| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |")

    sel = lambda g, k: [r for r in records if r.get("group") == g and r["kind"] == k]  # noqa: E731
    table("Targets: GB-RRT (N = capacity, K = proposals)", sel("targets", "rrt"), cols_rrt)
    table("Targets: BerOpt per step (the plain algorithm in all three, fixed step count)",
          sel("targets", "beropt"), cols_ber)
    table("Targets: BerOpt time to objective (J <= 1.03 x the plain algorithm's J after plain_steps steps; J "
          "checked every 10 steps). (a) implementation, one algorithm: speedup_vs_batched_torch (both run "
          "the library's BerOpt); vs the paper's algorithm: speedup_vs_reference_torch (the plain BerOpt in "
          "PyTorch). (b) the algorithm, one implementation: algorithm_gain (gbas-jax's plain BerOpt time over "
          "its library BerOpt time)", sel("targets", "tto"),
          ["model", "layer", "query", "impl", "algorithm", "plain_steps", "target", "reached", "tto_steps", "tto_s",
           "timed_runs",
           "final_objective", "speedup_vs_batched_torch", "speedup_vs_batched_torch_is_lower_bound",
           "speedup_vs_batched_torch_at_cap", "speedup_vs_reference_torch",
           "speedup_vs_reference_torch_is_lower_bound", "algorithm_gain", "algorithm_gain_is_lower_bound",
           "algorithm_gain_is_upper_bound", "target_trivial"])
    from .summary import side_by_side
    table("The two questions side by side, per model and layer. (a) the implementation, one algorithm: rrt_a = "
          "GB-RRT candidates/s of gbas-jax over batched PyTorch (K = 32, N = 500, layer sweep); tto_a = BerOpt "
          "time to objective of batched PyTorch over gbas-jax, both the library's BerOpt (median over queries). "
          "(b) the algorithm, in gbas-jax: tto_b = the plain BerOpt's time over the library's; rrt_b = accepted "
          "samples/s with K = 32 over K = 1", side_by_side(records),
          ["model", "layer", "rrt_a", "rrt_a_accepted", "tto_a", "tto_a_lower", "tto_a_at_cap", "tto_b", "tto_b_lower",
           "tto_b_upper", "rrt_b",
           "queries", "plain_steps", "tto_s"])
    table("Targets: end to end, the library's defaults in every implementation (egbas_batch; PyTorch: "
          "queries one after another, the library's BerOpt)", sel("targets", "batch"),
          cols_batch + ["algorithm"])
    table("StyleGAN2 64x64 (mirror weights, Z space): GB-RRT", sel("stylegan2", "rrt"), cols_rrt)
    table("StyleGAN2 64x64: BerOpt per step (the plain algorithm, fixed step count)", sel("stylegan2", "beropt"),
          cols_ber)
    for g in ("capacity", "proposals", "layer", "latent"):
        table(f"Sweep: {g}", sel(g, "rrt"), cols_rrt)
    table("Sweep: queries (egbas_batch)", sel("queries", "batch"), cols_batch)
    seen, kept_rows = set(), []
    for r in records:
        if r["kind"] == "kept" and (r["model"], r["layer"]) not in seen:
            seen.add((r["model"], r["layer"]))
            kept_rows.append(r)
    table("Kept-boundary path: work of one candidate's region test", kept_rows, cols_kept)
    return "\n".join(lines) + "\n"


def plots(records, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    files = []
    for group, var in (("capacity", "capacity"), ("proposals", "proposals"), ("layer", "layer"),
                       ("latent", "latent_dim"), ("queries", "queries")):
        rows = [r for r in records if r.get("group") == group and r.get("impl") == "jax"]
        if not rows:
            continue
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        models = sorted({r["model"] for r in rows})
        for m in models:
            rs = sorted((r for r in rows if r["model"] == m), key=lambda r: r[var])
            xs = [r[var] for r in rs]
            for impl, style in (("batched_torch", "o-"), ("reference_torch", "s--")):
                ys = [r.get(f"speedup_vs_{impl}") for r in rs]
                if any(y is not None for y in ys):
                    axes[0].plot([x for x, y in zip(xs, ys) if y], [y for y in ys if y], style,
                                 label=f"{m} vs {impl}")
            eff = [r.get("efficiency") for r in rs]
            rate = [r.get("queries_per_s") for r in rs]
            if any(e is not None for e in eff):
                axes[1].plot([x for x, e in zip(xs, eff) if e is not None], [e for e in eff if e is not None],
                             "o-", label=m)
                axes[1].set_ylabel("efficiency (bound / actual)")
            elif any(q is not None for q in rate):
                axes[1].plot(xs, rate, "o-", label=m)
                axes[1].set_ylabel("queries / s")
        axes[0].set_ylabel("speed-up of gbas-jax (x)")
        for ax in axes:
            ax.set_xlabel(var)
            if var in ("capacity", "proposals", "queries", "latent_dim"):
                ax.set_xscale("log", base=2)
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
        if axes[0].get_lines():
            axes[0].set_yscale("log")
        fig.suptitle(f"sweep: {var}")
        fig.tight_layout()
        path = os.path.join(out, f"sweep_{group}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(os.path.basename(path))
    return files


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, a smoke test (CI)")
    ap.add_argument("--out", default="out/benchmarks")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="PyTorch device")
    ap.add_argument("--models", default="dcgan-mnist,dcgan64")
    ap.add_argument("--skip-sweeps", action="store_true")
    ap.add_argument("--no-torch", action="store_true", help="gbas-jax only")
    ap.add_argument("--kept-fraction", type=float, default=0.02,
                    help="random models: fraction of units kept in the benchmark region (default 0.02)")
    ap.add_argument("--precision", default="highest", choices=("default", "high", "highest"),
                    help="jax_default_matmul_precision.  Both implementations set precision per stage "
                         "whatever this says: BerOpt at EGBASConfig.ber_precision ('auto': TF32 on a GPU), "
                         "every region decision in float32")
    ap.add_argument("--torch-threads", type=int, default=None, help="PyTorch CPU threads (default: all cores)")
    ap.add_argument("--only", default=None,
                    help="comma-separated kinds of measurement to run (rrt, beropt, tto, batch, kept)")
    ap.add_argument("--groups", default=None,
                    help="comma-separated groups to run (targets, stylegan2, capacity, proposals, layer, latent, "
                         "queries, kept)")
    ap.add_argument("--e2e-queries", type=int, default=None,
                    help="queries of the end-to-end runs, in every implementation (default: 64 gbas-jax, 8 PyTorch)")
    ap.add_argument("--no-progress", action="store_true")
    return ap


def run(args) -> dict:
    """Every measurement of :func:`plan` for ``args``; the record written to
    ``results.json`` (``report``: the markdown of ``report.md``)."""
    import jax
    jax.config.update("jax_default_matmul_precision", args.precision)
    has_torch = not args.no_torch
    if has_torch:
        try:
            import torch

            # float32 outside the stages that choose (torch_mirror.reference_torch.at_ber_precision)
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
            torch.backends.cudnn.benchmark = args.device == "cuda"        # PyTorch at its best on a GPU
            torch.set_num_threads(args.torch_threads or os.cpu_count())   # frozen, and recorded
        except ImportError:
            print("torch is not installed: measuring gbas-jax only (pip install torch)", file=sys.stderr)
            has_torch = False
    from .suite import MODELS
    models = [m for m in args.models.split(",") if m]
    bad = [m for m in models if m not in MODELS]
    if bad:
        raise ValueError(f"unknown model {bad[0]!r}; known: {sorted(MODELS)}")
    if args.quick:
        models = models[:1]
    jobs = plan(args.quick, models, args.skip_sweeps, has_torch, args.e2e_queries)
    if args.only:
        kinds = set(args.only.split(","))
        jobs = [j for j in jobs if j["kind"] in kinds]
    if args.groups:
        groups = set(args.groups.split(","))
        jobs = [j for j in jobs if j["group"] in groups]
    os.makedirs(args.out, exist_ok=True)
    from tqdm import tqdm
    argv = getattr(args, "argv", [])
    # at the start: the code that ran, whatever happens to the checkout meanwhile
    header = record_header("python -m benchmarks " + " ".join(argv), args.device)
    records, cache, t0 = [], {}, time.perf_counter()
    for job in tqdm(jobs, desc="benchmarks", disable=args.no_progress, unit="run"):
        records.append(run_job(job, args.device, args.kept_fraction, cache, args.quick))
    elapsed = time.perf_counter() - t0
    _speedups(records)
    _rrt_algorithm_gains(records)
    files = plots(records, args.out)
    settings = {k: v for k, v in vars(args).items() if k != "argv"}
    return dict(header, settings=settings, argv=argv, elapsed_s=elapsed, records=records, plots=files,
                report=report(records, header["machine"], args, elapsed))


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = parser()
    args = ap.parse_args(argv)
    args.argv = argv
    try:
        rec = run(args)
    except ValueError as e:
        ap.error(str(e))
    text = rec.pop("report")
    write_json(os.path.join(args.out, "results.json"), rec)
    write_text(os.path.join(args.out, "report.md"), text)
    print(text)
    print(f"wrote {args.out}/results.json, report.md, {', '.join(rec['plots'])}")
    return 0
