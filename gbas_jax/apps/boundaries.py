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
from typing import NamedTuple, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.compiler import jit
from ..core.egbas import egbas
from ..core.queries import query_latents
from ..core.region import slack
from ..core.results import EGBASResult
from ..io.atomic import atomic_folder
from ..io.checkpoint import load_pretrained, read_architecture
from ..io.outputs import stamp
from . import health, settings
from .common import as_settings, settings_line, write_json

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


def compute_boundaries(model: str = "dcgan-mnist-2d", layer: int = 1, cfg=None,
                       seed: int = 0, query=None, extent: float = 1.5, resolution: int = 320,
                       progress: bool = True) -> BoundaryRun:
    """E-GBAS on a 2-D model and the boundary maps around the query.  ``cfg``: an
    :class:`~gbas_jax.EGBASConfig` or :class:`~gbas_jax.apps.settings.Settings`;
    default: the model's recommended settings."""
    from tqdm.auto import tqdm

    st = settings.resolve(read_architecture(model), {}) if cfg is None else as_settings(cfg)
    cfg = st.config
    t0 = time.perf_counter()
    with tqdm(total=3, desc="boundaries", disable=not progress) as bar:
        gen = load_pretrained(model)
        if gen.latent_dim != 2:
            raise ValueError(f"'boundaries' needs a model with a 2-D latent; {model!r} has {gen.latent_dim}")
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
    record = {**stamp("boundaries"), "model": model, "layer": layer, "seed": seed, "query": z0.tolist(),
              "config": dataclasses.asdict(cfg), "config_sources": dict(st.sources),
              "extent": extent, "resolution": resolution,
              "units": int(res.theta.shape[0]), "kept_boundaries": int(res.num_kept),
              "ber_steps": int(res.ber_steps), "ber_converged": bool(res.ber_converged),
              "ber_objective": float(res.objective),
              "samples": n, "rejected": int(res.tree.num_rejected),
              "region_fraction_of_view": float(maps[2].mean()),
              "stop_reason": res.tree.stop().name.lower(), "problems": health.as_records(cal_problems),
              "seconds": round(time.perf_counter() - t0, 3)}
    return BoundaryRun(res, z0, tuple(maps), ext, imgs, pick, record)


def figure(run: BoundaryRun):
    """The picture: all boundaries (left), the kept ones with the region and the
    tree (right), and the images of the query and a few samples below."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res, z0, layer = run.result, run.query, run.record["layer"]
    all_b, kept_b, inside = run.maps
    s = res.tree.accepted()
    n = len(s)
    par = np.asarray(res.tree.parents[:n])
    rej = res.tree.stored_rejected()
    fig = plt.figure(figsize=(13, 7.2))
    gs = fig.add_gridspec(2, 6, height_ratios=[5, 1.25])
    panels = ((all_b, "Greys", f"all {res.theta.shape[0]} boundaries of layer {layer}"),
              (kept_b, "Reds", f"the {int(res.num_kept)} kept by BerOpt, the region and GB-RRT"))
    for col, (count, cmap, title) in enumerate(panels):
        ax = fig.add_subplot(gs[0, 3 * col:3 * col + 3])
        region = np.zeros(inside.shape + (4,))
        region[inside] = (0.55, 0.75, 1.0, 0.6)
        vmax = max(1.0, float(np.percentile(count[count > 0], 95))) if np.any(count) else 1.0
        ax.imshow(np.ma.masked_equal(count, 0), extent=run.extent, origin="upper", interpolation="nearest",
                  cmap=cmap, vmin=0, vmax=vmax)
        ax.imshow(region, extent=run.extent, origin="upper", interpolation="nearest")
        if col == 1:
            for i in range(1, n):
                p = s[par[i]]
                ax.plot([p[0], s[i, 0]], [p[1], s[i, 1]], color="k", lw=0.4)
            ax.scatter(s[1:, 0], s[1:, 1], s=4, c="tab:blue", zorder=3, label=f"accepted ({n - 1})")
            if len(rej):
                ax.scatter(rej[:, 0], rej[:, 1], s=6, c="darkorange", marker="x", lw=0.6, zorder=3,
                           label=f"rejected ({int(res.tree.num_rejected)})")
            ax.legend(loc="lower right", fontsize=8)
        ax.scatter([z0[0]], [z0[1]], marker="*", s=140, c="gold", edgecolors="k", zorder=4)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("z[0]")
        ax.set_ylabel("z[1]")
    for j, img in enumerate(run.sample_images[:6]):
        ax = fig.add_subplot(gs[1, j])
        ax.imshow(np.clip(img[..., 0], -1, 1), cmap="gray", vmin=-1, vmax=1)
        ax.set_axis_off()
        ax.set_title("query" if j == 0 else f"sample {run.picked[j - 1]}", fontsize=8)
    fig.tight_layout()
    return fig


def write_boundaries(run: BoundaryRun, out: str) -> dict:
    """Write ``boundaries.png``, the samples and ``record.json`` (whole or not at all)."""
    import matplotlib.pyplot as plt

    fig = figure(run)
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
        settings_line(record),
        f"kept boundaries {record['kept_boundaries']}/{record['units']}  samples {record['samples']}  "
        f"rejected {record['rejected']}  stop {record['stop_reason']}",
        f"the region covers {100 * record['region_fraction_of_view']:.1f} % of the "
        f"{2 * record['extent']:g} x {2 * record['extent']:g} view; {record['seconds']} s"])


def run_boundaries(model: str = "dcgan-mnist-2d", layer: int = 1, cfg=None,
                   seed: int = 0, query=None, out: str = "out/boundaries", extent: float = 1.5,
                   resolution: int = 320, progress: bool = True) -> dict:
    """:func:`compute_boundaries`, then :func:`write_boundaries`; returns the record."""
    return write_boundaries(compute_boundaries(model, layer, cfg, seed, query, extent, resolution, progress), out)
