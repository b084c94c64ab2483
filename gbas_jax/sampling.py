"""The main job behind ``gbas-jax sample``: E-GBAS on one query plus the paper's
baselines and metrics, written to an output folder (library function; the CLI is
a thin wrapper)."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from . import baselines, metrics, viz
from ._io import atomic_folder
from .checkpoint import load_discriminator, load_pretrained, read_architecture
from .config import EGBASConfig
from .egbas import egbas
from .region import in_region, nrs_fraction
from .rrt import stop_reason_name


def query_latent(latent_dim: int, seed: int = 0, path: Optional[str] = None) -> np.ndarray:
    """The query: ``N(0, I)`` from ``seed``, or a ``(Dz,)`` latent saved as .npy."""
    if path is None:
        return np.asarray(jax.random.normal(jax.random.key(seed), (latent_dim,)), np.float32)
    try:
        z = np.load(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read query {path!r}: {e}") from None
    z = np.asarray(z, np.float32).reshape(-1) if np.ndim(z) == 2 and np.shape(z)[0] == 1 else np.asarray(z, np.float32)
    if z.shape != (latent_dim,):
        raise ValueError(f"query {path!r} has shape {z.shape}; the model needs ({latent_dim},)")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"query {path!r} is not finite")
    return z


@functools.partial(jax.jit, static_argnames=("layer",))
def _set_metrics(gen, disc, layer, z0, V, zs):
    imgs = gen.generate(zs)
    out = {"image_variation": metrics.image_variation(imgs),
           "nrs_full": nrs_fraction(gen, zs, layer, z0),
           "nrs_relaxed": jnp.mean(in_region(gen, zs, layer, V).astype(jnp.float32))}
    if disc is not None:
        out["discriminator_similarity"] = metrics.discriminator_similarity(disc, imgs, gen.generate(z0[None]))
    return out, imgs


def method_metrics(gen, disc, layer, z0, V, zs):
    """Table 1-2 metrics and NRS fractions of one sample set ``zs`` (valid rows)."""
    out, imgs = _set_metrics(gen, disc, layer, jnp.asarray(z0), jnp.asarray(V), jnp.asarray(zs))
    rec = {"count": int(zs.shape[0])}
    for k, v in out.items():
        rec[k] = [float(x) for x in v] if np.ndim(v) else float(v)
    return rec, np.asarray(imgs)


def run_sample(model: str = "dcgan-mnist", layer: int = 2, cfg: Optional[EGBASConfig] = None,
               seed: int = 0, query: Optional[str] = None, out: str = "out/sample",
               progress: bool = True, pictures: int = 12) -> dict:
    """Run E-GBAS and the baselines for one query; write the output folder; return the record."""
    from tqdm.auto import tqdm

    cfg = cfg or EGBASConfig()
    t_all = time.perf_counter()
    timings = {}
    stages = ["load model", "E-GBAS (BerOpt + GB-RRT, incl. compile)", "baselines", "metrics", "write"]
    with tqdm(total=len(stages), desc="sample", disable=not progress, bar_format="{l_bar}{bar}| {n}/{total} {postfix}") as bar:
        def stage(i):
            bar.set_postfix_str(stages[i])

        stage(0)
        t = time.perf_counter()
        gen = load_pretrained(model)
        arch = read_architecture(model)
        disc = load_discriminator(model) if arch.get("discriminator") else None
        z0 = query_latent(gen.latent_dim, seed, query)
        timings["load_s"] = time.perf_counter() - t
        bar.update(1)

        stage(1)
        key = jax.random.key(seed)
        k_run, k_l2, k_linf = jax.random.split(key, 3)
        t = time.perf_counter()
        res = jax.block_until_ready(egbas(gen, z0, layer, cfg, key=k_run))
        timings["egbas_s"] = time.perf_counter() - t
        bar.update(1)

        stage(2)
        t = time.perf_counter()
        n = int(res.tree.num_samples)
        z_eg = np.asarray(res.tree.samples[:n])
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cal, info = baselines.calibrate(res, return_info=True)
        z_l2 = np.asarray(baselines.sample_l2_ball(z0, cal.eps_l2, n, key=k_l2))
        z_linf = np.asarray(baselines.sample_linf_ball(z0, cal.eps_linf, n, key=k_linf))
        timings["baselines_s"] = time.perf_counter() - t
        bar.update(1)

        stage(3)
        t = time.perf_counter()
        V = res.indicator
        table, images = {}, {}
        for name, zs in (("E-GBAS", z_eg), ("eps-L2", z_l2), ("eps-Linf", z_linf)):
            table[name], images[name] = method_metrics(gen, disc, layer, z0, V, zs)
        query_img = np.asarray(gen.generate(z0[None]))
        timings["metrics_s"] = time.perf_counter() - t
        bar.update(1)

        stage(4)
        proposals = int(res.tree.num_proposals)
        record = {
            "model": model, "layer": layer, "seed": seed, "query": query,
            "config": dataclasses.asdict(cfg),
            "counts": {"units": int(res.theta.shape[0]), "kept_boundaries": int(res.num_kept),
                       "samples": n, "proposals": proposals,
                       "acceptance_rate": (n - 1) / proposals if proposals else 0.0,
                       "rejected": int(res.tree.num_rejected), "rrt_iterations": int(res.tree.iterations),
                       "stop_reason": stop_reason_name(res.tree.stop_reason),
                       "rejected_overflow": bool(res.tree.rejected_overflow),
                       "ber_steps": int(res.ber_steps), "ber_converged": bool(res.ber_converged)},
            "ber_loss": float(res.ber_loss), "kept_error": float(res.kept_error),
            "calibration": {"eps_l2": cal.eps_l2, "eps_linf": cal.eps_linf, "min_dist": info.min_dist,
                            "max_dist": info.max_dist, "fallback_no_rejected": info.fallback,
                            "warnings": [str(w.message) for w in caught]},
            "metrics": table,
            "device": jax.devices()[0].device_kind,
        }
        _write(out, record, timings, t_all, query_img, images, z0, z_eg, z_l2, z_linf, res, pictures)
        bar.update(1)
    return record


def _write(out, record, timings, t_all, query_img, images, z0, z_eg, z_l2, z_linf, res, pictures):
    """Everything goes to a temporary folder, renamed into place when complete."""
    with atomic_folder(out) as tmp:
        rng = np.random.default_rng(0)

        def pick(x):
            idx = np.sort(rng.choice(len(x), size=min(pictures, len(x)), replace=False))
            return x[idx]

        # E-GBAS row 0 is the query itself: show the others.
        pic = viz.labelled_rows([query_img, pick(images["E-GBAS"][1:]), pick(images["eps-L2"]),
                                 pick(images["eps-Linf"])],
                                ["query", "E-GBAS", "eps-L2", "eps-Linf"], ncol=pictures)
        pic.save(os.path.join(tmp, "samples.png"))
        np.save(os.path.join(tmp, "query.npy"), z0)
        np.save(os.path.join(tmp, "egbas_samples.npy"), z_eg)
        np.save(os.path.join(tmp, "egbas_parents.npy"), np.asarray(res.tree.parents[:len(z_eg)]))
        m = min(int(res.tree.num_rejected), res.tree.rejected.shape[0])
        np.save(os.path.join(tmp, "egbas_rejected.npy"), np.asarray(res.tree.rejected[:m]))
        np.save(os.path.join(tmp, "eps_l2_samples.npy"), z_l2)
        np.save(os.path.join(tmp, "eps_linf_samples.npy"), z_linf)
        timings["total_s"] = time.perf_counter() - t_all
        record["timings"] = {k: round(v, 4) for k, v in timings.items()}
        record["files"] = sorted(os.listdir(tmp)) + ["record.json"]
        with open(os.path.join(tmp, "record.json"), "w") as f:
            json.dump(record, f, indent=2)


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
