"""The jobs' pictures (matplotlib, Agg): labelled so that a newcomer can read them."""

from __future__ import annotations

from typing import Dict

import numpy as np

METHOD_COLOURS = {"E-GBAS": "tab:blue", "eps-L2": "tab:orange", "eps-Linf": "tab:green"}


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def show_image(ax, img, title=None, frame=None):
    """One image (``(H, W, C)``, values in [-1, 1]) without ticks; ``frame`` colours
    its border."""
    img = np.clip(np.asarray(img, np.float32), -1, 1)
    if img.shape[-1] == 1:
        ax.imshow(img[..., 0], cmap="gray", vmin=-1, vmax=1)
    else:
        ax.imshow((img + 1) / 2)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(frame is not None)
        if frame is not None:
            spine.set_edgecolor(frame)
            spine.set_linewidth(2.5)
    if title:
        ax.set_title(title, fontsize=8)


def std_map(images) -> np.ndarray:
    """Per-pixel standard deviation over a sample set, averaged over channels: ``(H, W)``
    (zeros for an empty set)."""
    images = np.asarray(images, np.float32)
    if len(images) == 0:
        return np.zeros(images.shape[1:3], np.float32)
    return images.std(axis=0).mean(axis=-1)


def sample_figure(query_image, images: Dict[str, np.ndarray], layer: int, pictures: int, path: str) -> None:
    """``gbas-jax sample``'s picture: one row per method (E-GBAS first; its row 0 is
    the query and is skipped), the query at the left of every row (red frame), a
    few samples, and the method's per-pixel standard deviation over *all* its
    samples on one colour scale shared by the rows: where the images vary."""
    plt = _plt()
    rng = np.random.default_rng(0)
    rows = [(name, imgs[1:] if name == "E-GBAS" else imgs) for name, imgs in images.items()]
    maps = {name: std_map(imgs) for name, imgs in rows}
    vmax = max(float(m.max()) for m in maps.values()) or 1.0
    ncol = pictures + 2
    fig = plt.figure(figsize=(0.9 * ncol + 1.2, 1.05 * len(rows) + 0.6))
    grid = fig.add_gridspec(len(rows), ncol + 1, width_ratios=[1] * ncol + [0.12], wspace=0.08, hspace=0.25)
    axes = np.array([[fig.add_subplot(grid[r, c]) for c in range(ncol)] for r in range(len(rows))])
    for r, (name, imgs) in enumerate(rows):
        show_image(axes[r, 0], query_image[0], "query" if r == 0 else None, frame="red")
        axes[r, 0].set_ylabel(name, fontsize=10, rotation=0, ha="right", va="center",
                              color=METHOD_COLOURS.get(name, "black"))
        pick = np.sort(rng.choice(len(imgs), size=min(pictures, len(imgs)), replace=False)) if len(imgs) else []
        for c in range(pictures):
            ax = axes[r, 1 + c]
            if c < len(pick):
                show_image(ax, imgs[pick[c]], f"sample {pick[c] + (name == 'E-GBAS')}" if r == 0 and c == 0 else None)
            else:
                ax.set_axis_off()
        im = axes[r, -1].imshow(maps[name], cmap="magma", vmin=0, vmax=vmax)
        axes[r, -1].set_xticks([])
        axes[r, -1].set_yticks([])
        if r == 0:
            axes[r, -1].set_title("pixel std", fontsize=8)
        axes[r, -1].set_xlabel(f"mean {maps[name].mean():.3f}", fontsize=7)
    fig.colorbar(im, cax=fig.add_subplot(grid[:, -1]))
    fig.suptitle(f"layer {layer}: {len(rows[0][1])} E-GBAS samples and as many from each epsilon ball "
                 f"(shown: {pictures} of each)", fontsize=9)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def title_above(fig, axes, text: str) -> None:
    """A figure title just above the top row of drawn axes: square images leave
    their cells' spare height empty, so a ``suptitle`` at the figure's top edge would
    float far above a tall grid."""
    fig.canvas.draw()                          # applies the axes' aspect, fixing their positions
    renderer, to_fig = fig.canvas.get_renderer(), fig.transFigure.inverted()
    top = max(ax.get_tightbbox(renderer).transformed(to_fig).y1 for ax in axes.ravel() if ax.get_visible())
    fig.text(0.5, top + 0.01, text, ha="center", va="bottom", fontsize=9)


def figure7(keep, query_images, layers, path: str, n: int = 8) -> None:
    """The paper's Figure 7: for the first queries and each target layer, a row of
    epsilon-L2 samples and a row of E-GBAS samples, each after the query (red frame)."""
    plt = _plt()
    rows = []
    for q in range(min(3, len(query_images))):
        for layer in layers:
            if (layer, q, "E-GBAS") in keep:
                rows.append((q, layer, "eps-L2", keep[(layer, q, "eps-L2")][:n]))
                rows.append((q, layer, "E-GBAS", keep[(layer, q, "E-GBAS")][1:n + 1]))
    fig, axes = plt.subplots(len(rows), n + 1, figsize=(0.75 * (n + 1) + 1.6, 0.8 * len(rows) + 0.4),
                             squeeze=False)
    for r, (q, layer, name, imgs) in enumerate(rows):
        show_image(axes[r, 0], query_images[q], "query" if r == 0 else None, frame="red")
        axes[r, 0].set_ylabel(f"query {q}, layer {layer}\n{name}", fontsize=7, rotation=0, ha="right",
                              va="center", color=METHOD_COLOURS.get(name, "black"))
        for c in range(n):
            if c < len(imgs):
                show_image(axes[r, 1 + c], imgs[c])
            else:
                axes[r, 1 + c].set_axis_off()
    title_above(fig, axes, "Figure 7: epsilon-L2 and E-GBAS samples of the same query, per target layer")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def figure6(keep, query_images, layers, path: str) -> None:
    """The paper's Figure 6: per query, its image, then the per-pixel standard
    deviation of its E-GBAS samples at each target layer (one colour scale per row)."""
    plt = _plt()
    queries = [q for q in range(min(3, len(query_images))) if any((l, q, "E-GBAS") in keep for l in layers)]
    fig, axes = plt.subplots(len(queries), len(layers) + 1, figsize=(1.3 * (len(layers) + 1) + 0.8,
                                                                     1.35 * len(queries) + 0.4), squeeze=False)
    for r, q in enumerate(queries):
        show_image(axes[r, 0], query_images[q], "query" if r == 0 else None, frame="red")
        axes[r, 0].set_ylabel(f"query {q}", fontsize=8, rotation=0, ha="right", va="center")
        maps = [std_map(keep[(layer, q, "E-GBAS")]) for layer in layers]
        top = max(float(m.max()) for m in maps) or 1.0
        for c, (layer, m) in enumerate(zip(layers, maps)):
            im = axes[r, 1 + c].imshow(m, cmap="magma", vmin=0, vmax=top)
            axes[r, 1 + c].set_xticks([])
            axes[r, 1 + c].set_yticks([])
            if r == 0:
                axes[r, 1 + c].set_title(f"layer {layer}", fontsize=8)
        fig.colorbar(im, ax=axes[r, 1:].tolist(), fraction=0.05, pad=0.02)
    title_above(fig, axes, "Figure 6: per-pixel std of the E-GBAS samples by target layer (brighter = more variation)")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
