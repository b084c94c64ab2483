r"""What BerOpt kept, saved and drawn: ``theta.npy``, ``indicator.npy``, the layer's
shape and per-channel kept counts, and the pictures of where the kept units sit
and what they hold.

A unit index ``i`` of layer ``l`` is row-major over the layer's shape: for an
``(H, W, C)`` layer, ``(row, column, channel) = unravel_index(i, (H, W, C))``.
theta has the shape of what BerOpt learned (``(D_l,)`` keep-probabilities); the
indicator ``V`` is always ``(D_l,)`` int8 (``+1`` / ``-1`` the kept unit's sign at
the query, ``0`` dropped), so ``gb.in_region(gen, z, l, V)`` reads it back.

"What they hold" decodes the query's layer-``l`` units masked two ways,

.. math::  x_{kept} = G_{L:l+1}(h_0 \odot 1[V \ne 0]), \qquad
           x_{dropped} = G_{L:l+1}(h_0 \odot 1[V = 0]),

with their mean squared errors against :math:`G(z_0)` (BerOpt's objective keeps
the first small with few units).
"""

from __future__ import annotations

import os
from typing import Dict, Optional

import jax.numpy as jnp
import numpy as np

from .figures import _plt, show_image


def layer_record(gen, layer: int, indicator) -> dict:
    """``{"layer_shape", "kept_per_channel", "unit_order"}`` for a record."""
    shape = tuple(int(s) for s in gen.layer_shape(layer))
    kept = np.asarray(indicator) != 0
    out = {"layer_shape": list(shape), "unit_order": "row-major over layer_shape (NHWC: row, column, channel)"}
    if len(shape) == 3:
        out["kept_per_channel"] = [int(c) for c in kept.reshape(shape).sum(axis=(0, 1))]
    return out


def save(folder: str, theta, indicator) -> None:
    """``theta.npy`` (float32) and ``indicator.npy`` (int8) into ``folder``."""
    np.save(os.path.join(folder, "theta.npy"), np.asarray(theta, np.float32))
    np.save(os.path.join(folder, "indicator.npy"), np.asarray(indicator, np.int8))


def held(gen, layer: int, z0, indicator) -> Dict[str, np.ndarray]:
    """The query's image, the images decoded from its kept units only and from its
    dropped units only (``(H, W, C)`` each), and their errors."""
    z = jnp.asarray(z0, jnp.float32).reshape(1, -1)
    h = gen.features(z, layer)
    u = gen.units(h)
    keep = jnp.asarray(np.asarray(indicator) != 0, u.dtype).reshape(u.shape[1:])[None]
    x0 = np.asarray(gen.generate(z))[0]
    kept = np.asarray(gen.decode(gen.with_units(h, u * keep), layer))[0]
    dropped = np.asarray(gen.decode(gen.with_units(h, u * (1 - keep)), layer))[0]
    return {"query": x0, "kept": kept, "dropped": dropped,
            "kept_error": float(np.mean((kept - x0) ** 2)), "dropped_error": float(np.mean((dropped - x0) ** 2))}


def figure(h: Dict[str, np.ndarray], indicator, shape, layer: int, path: str, title: Optional[str] = None) -> dict:
    """``boundaries.png``: where the kept units are, per channel, and what they hold.

    For an ``(H, W, C)`` layer, panel 1 is the count of kept units over channels at
    each position, up-sampled to the image and drawn over the query; for a flat
    layer, a strip of the units (kept ones dark).  Panel 2: kept units per channel.
    Panels 3-5: the query, its kept units decoded, its dropped units decoded.
    ``h``: :func:`held`; ``shape``: the layer's shape.  Returns the numbers it
    drew (for the record and the report)."""
    plt = _plt()
    ind = np.asarray(indicator)
    shape = tuple(shape)
    fig, axes = plt.subplots(1, 5, figsize=(14.5, 3.2), gridspec_kw={"width_ratios": [1.15, 1.6, 1, 1, 1]})
    kept = ind != 0
    ax = axes[0]
    if len(shape) == 3:
        per_pos = kept.reshape(shape).sum(axis=-1).astype(np.float32)
        H, W = h["query"].shape[:2]
        up = np.kron(per_pos, np.ones((H // shape[0], W // shape[1]), np.float32)) if H % shape[0] == 0 \
            else per_pos
        show_image(ax, h["query"])
        im = ax.imshow(up, cmap="viridis", alpha=0.55, extent=(-0.5, W - 0.5, H - 0.5, -0.5), vmin=0)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=7)
        ax.set_title(f"kept units per position ({shape[0]}x{shape[1]})\nover the query", fontsize=8)
        per_channel = kept.reshape(shape).sum(axis=(0, 1))
        axes[1].bar(np.arange(shape[2]), per_channel, width=1.0, color="tab:blue")
        axes[1].set_xlabel("channel", fontsize=8)
        axes[1].set_ylabel(f"kept of {shape[0] * shape[1]} positions", fontsize=8)
        axes[1].set_title(f"kept units per channel ({int((per_channel > 0).sum())} of {shape[2]} channels)",
                          fontsize=8)
    else:
        ax.imshow(kept.reshape(1, -1), aspect="auto", cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
        ax.set_yticks([])
        ax.set_xlabel("unit", fontsize=8)
        ax.set_title("kept units (dark)", fontsize=8)
        axes[1].bar(np.arange(kept.size), kept.astype(int), width=1.0, color="tab:blue")
        axes[1].set_title("kept (1) per unit", fontsize=8)
    axes[1].tick_params(labelsize=7)
    show_image(axes[2], h["query"], "query G(z0)", frame="red")
    show_image(axes[3], h["kept"], f"kept units only ({int(kept.sum())})\nMSE {h['kept_error']:.4f}")
    show_image(axes[4], h["dropped"], f"dropped units only ({int((~kept).sum())})\nMSE {h['dropped_error']:.4f}")
    fig.suptitle(title or f"layer {layer}: {int(kept.sum())} of {kept.size} boundaries kept", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"kept_error": h["kept_error"], "dropped_error": h["dropped_error"], "kept": int(kept.sum()),
            "units": int(kept.size)}


__all__ = ["layer_record", "save", "held", "figure"]
