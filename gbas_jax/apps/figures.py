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


def sample_figure(query_image, images: Dict[str, np.ndarray], layer: int, pictures: int, path: str,
                  view: str = "") -> None:
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
    fig.suptitle(f"{view + ', ' if view else ''}layer {layer}: {len(rows[0][1])} E-GBAS samples and as many "
                 f"from each epsilon ball (shown: {pictures} of each)", fontsize=9)
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


def figure4(f4, path: str) -> None:
    """The paper's Figure 4 on the 2-D model: accepted and rejected samples, their
    mean, and the L2 balls of the min, max and calibrated radius."""
    plt = _plt()

    r, s, rej = f4["record"], f4["samples"], f4["rejected"]
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(s[:, 0], s[:, 1], s=4, c="k", label=f"accepted ({len(s)})")
    if len(rej):
        ax.scatter(rej[:, 0], rej[:, 1], s=6, c="r", marker="x", lw=0.7, label=f"rejected ({len(rej)} stored)")
    ax.scatter([f4["z_avg"][0]], [f4["z_avg"][1]], s=60, c="b", label="mean of accepted")
    for rad, col, lab in ((r["min_dist"], "red", "min"), (r["max_dist"], "orange", "max"),
                          (r["eps_l2"], "blue", "eps_L2")):
        ax.add_patch(plt.Circle(f4["z_avg"], rad, fill=False, color=col, lw=1.2, label=f"{lab} = {rad:.3f}"))
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(f"{r['model']}, layer {r['layer']}: calibration of eps_L2")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def boundaries_figure(run):
    """The picture: all boundaries (left), the kept ones with the region and the
    tree (right), and the images of the query and a few samples below."""
    plt = _plt()

    res, z0, layer = run.result, run.query, run.record["layer"]
    all_b, kept_b, inside = run.maps
    s = res.tree.accepted()
    n = len(s)
    par = np.asarray(res.tree.parents[:n])
    rej = res.tree.stored_rejected()
    fig = plt.figure(figsize=(13, 7.2))
    gs = fig.add_gridspec(2, 6, height_ratios=[5, 1.25])
    panels = ((all_b, "Greys", f"all {res.indicator.shape[0]} boundaries of layer {layer}"),
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
