"""Maps of generative boundaries on a 2-D latent plane (the paper's Figures 2-3),
behind ``gbas-jax boundaries``.

For a grid of ``R x R`` latents around the query, a pixel lies on a boundary when
some unit's sign differs from the pixel to its right or below; counting only kept
units (``V != 0``) gives the boundaries BerOpt kept.  Computed in row blocks so the
``(pixels, D_l)`` pre-activations never exist at once.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from typing import NamedTuple, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np

from ..core.latents import query_latents
from ..core.region import slack
from ..core.results import EGBASResult
from ..io.atomic import atomic_folder
from ..io.checkpoint import Model, load_model
from ..io.outputs import stamp
from ..runtime.compiler import jit
from ..runtime.egbas import egbas
from . import figures, health, settings
from .common import write_json

_BLOCK = 8  # grid rows per device call


@functools.partial(jit, static_argnames=("layer",))
def _edge_block(gen, zs, layer, V):
    """``zs`` ``(r + 1, W, 2)`` -> boundary counts over all units and over kept
    units, and membership of the region; each ``(r, W)``."""
    r1, w, d = zs.shape
    a = gen.boundary(zs.reshape(-1, d), layer).reshape(r1, w, -1)
    s = a > 0
    right = jnp.concatenate([s[:, 1:] != s[:, :-1], jnp.zeros_like(s[:, :1])], axis=1)
    down = s[1:] != s[:-1]
    edge_units = right[:-1] | down
    kept = (V != 0)[None, None]
    return (jnp.sum(edge_units, -1, dtype=jnp.int32), jnp.sum(edge_units & kept, -1, dtype=jnp.int32),
            slack(a, V)[:-1] >= 0)


def boundary_maps(gen, z0, layer: int, V, extent: float = 1.5, resolution: int = 320):
    """Maps ``(R, R)``: number of boundaries crossing each pixel (all units, kept
    units) and the query's region (bool).  Row 0 is the top of the picture."""
    if gen.latent_dim != 2:
        raise ValueError(f"boundary maps need a 2-D latent; this model has {gen.latent_dim}")
    xs = np.linspace(z0[0] - extent, z0[0] + extent, resolution, dtype=np.float32)
    ys = np.linspace(z0[1] + extent, z0[1] - extent, resolution + 1, dtype=np.float32)  # one extra row
    V = jnp.asarray(V)
    out = [np.zeros((resolution, resolution), np.int32), np.zeros((resolution, resolution), np.int32),
           np.zeros((resolution, resolution), bool)]
    for r0 in range(0, resolution, _BLOCK):
        r1 = min(r0 + _BLOCK, resolution)
        rows = ys[r0:r1 + 1]
        if len(rows) < _BLOCK + 1:  # keep one compiled shape: pad the last block
            rows = np.concatenate([rows, np.repeat(rows[-1:], _BLOCK + 1 - len(rows))])
        grid = np.stack(np.meshgrid(xs, rows), axis=-1)
        maps = _edge_block(gen, jnp.asarray(grid), layer, V)
        for o, m in zip(out, maps):
            o[r0:r1] = np.asarray(m)[: r1 - r0]
    return out, (xs[0], xs[-1], ys[resolution - 1], ys[0])


class BoundaryRun(NamedTuple):
    """What ``boundaries`` computed: the E-GBAS result, the query, the three maps
    (all boundaries, kept boundaries, region) with their extent, and the record."""

    result: EGBASResult
    query: np.ndarray
    maps: Tuple[np.ndarray, np.ndarray, np.ndarray]
    extent: Tuple[float, float, float, float]
    sample_images: np.ndarray      # query first, then a few samples
    picked: np.ndarray             # tree rows of those samples
    record: dict


def compute_boundaries(model: Union[str, Model] = "dcgan-mnist-2d", layer: int = 1, cfg=None,
                       seed: int = 0, query=None, extent: float = 1.5, resolution: int = 320,
                       progress: bool = True) -> BoundaryRun:
    """E-GBAS on a 2-D model and the boundary maps around the query.  ``model``: a
    loaded :class:`~gbas_jax.io.checkpoint.Model` (or a name or folder to load);
    ``cfg``: as :func:`~gbas_jax.apps.settings.for_job` (``None``: the model's
    recommendation)."""
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    with tqdm(total=3, desc="boundaries", disable=not progress) as bar:
        model = load_model(model, discriminator=False)
        model.folder.require_latent_dim(2, "'boundaries'")
        st = settings.for_job(model.folder, cfg)
        cfg, gen = st.config, model.generator
        z0 = query_latents(2, seed) if query is None else np.asarray(query, np.float32).reshape(2)
        bar.update(1)
        res = jax.block_until_ready(egbas(gen, z0, layer, cfg, key=jax.random.key(seed)))
        bar.update(1)
        maps, ext = boundary_maps(gen, z0, layer, res.indicator, extent, resolution)
        bar.update(1)
    s = res.tree.accepted()
    n = len(s)
    pick = np.linspace(1, n - 1, 5).astype(int) if n > 5 else np.arange(1, n)
    imgs = np.asarray(gen.generate(np.concatenate([z0[None], s[pick]])))
    cal_problems = health.egbas_problems(res)
    record = {**stamp("boundaries"), "model": model.name, "layer": layer, "seed": seed, "query": z0.tolist(),
              "config": dataclasses.asdict(cfg), "config_sources": dict(st.sources),
              "extent": extent, "resolution": resolution,
              "units": int(res.indicator.shape[0]), "kept_boundaries": int(res.num_kept),
              "ber_steps": int(res.ber_steps), "ber_converged": bool(res.ber_converged),
              "ber_objective": float(res.objective),
              "samples": n, "rejected": int(res.tree.num_rejected),
              "region_fraction_of_view": float(maps[2].mean()),
              "stop_reason": res.tree.stop().name.lower(), "problems": health.as_records(cal_problems),
              "seconds": round(time.perf_counter() - t0, 3)}
    return BoundaryRun(res, z0, tuple(maps), ext, imgs, pick, record)


def write_boundaries(run: BoundaryRun, out: str) -> dict:
    """Write ``boundaries.png``, the samples and ``record.json`` (whole or not at all)."""
    import matplotlib.pyplot as plt

    fig = figures.boundaries_figure(run)
    record = dict(run.record)
    try:
        with atomic_folder(out) as tmp:
            fig.savefig(os.path.join(tmp, "boundaries.png"), dpi=110)
            np.save(os.path.join(tmp, "egbas_samples.npy"), run.result.tree.accepted())
            record["files"] = sorted(os.listdir(tmp)) + ["record.json"]
            write_json(os.path.join(tmp, "record.json"), record)
    finally:
        plt.close(fig)
    return record


def summary(record: dict) -> str:
    """A few lines for people (the record holds everything)."""
    return "\n".join([
        f"model {record['model']}  layer {record['layer']}  seed {record['seed']}  "
        f"query ({record['query'][0]:.3f}, {record['query'][1]:.3f})",
        settings.from_record(record).describe(),
        f"kept boundaries {record['kept_boundaries']}/{record['units']}  samples {record['samples']}  "
        f"rejected {record['rejected']}  stop {record['stop_reason']}",
        f"the region covers {100 * record['region_fraction_of_view']:.1f} % of the "
        f"{2 * record['extent']:g} x {2 * record['extent']:g} view; {record['seconds']} s"])
