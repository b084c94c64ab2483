"""Pictures: image grids written with Pillow."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from .atomic import atomic_file


def to_uint8(images) -> np.ndarray:
    """``(B, H, W, C)`` floats in ``[-1, 1]`` (clipped) -> uint8."""
    x = np.clip((np.asarray(images, np.float32) + 1.0) * 127.5, 0, 255)
    return np.round(x).astype(np.uint8)


def grid(images, ncol: int = 8, pad: int = 2, scale: int = 1) -> Image.Image:
    """Tile ``(B, H, W, C)`` images row by row into one picture."""
    x = to_uint8(images)
    b, h, w, c = x.shape
    ncol = max(1, min(ncol, b))
    nrow = -(-b // ncol)
    canvas = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), 255, np.uint8)
    for i in range(b):
        r, q = divmod(i, ncol)
        canvas[pad + r * (h + pad):pad + r * (h + pad) + h, pad + q * (w + pad):pad + q * (w + pad) + w] = x[i]
    img = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


def labelled_rows(rows: Sequence[np.ndarray], labels: Sequence[str], ncol: int = 8,
                  scale: int = 3, label_width: int = 90) -> Image.Image:
    """One labelled row of images per entry of ``rows`` (each ``(B_i, H, W, C)``)."""
    tiles = [grid(r[:ncol], ncol=ncol, scale=scale).convert("RGB") for r in rows]
    width = label_width + max(t.width for t in tiles)
    out = Image.new("RGB", (width, sum(t.height for t in tiles)), "white")
    draw = ImageDraw.Draw(out)
    y = 0
    for t, label in zip(tiles, labels):
        out.paste(t, (label_width, y))
        draw.text((4, y + t.height // 2 - 6), label, fill="black")
        y += t.height
    return out


def save_png(img: Image.Image, path: str) -> None:
    """Write a PNG atomically (no partial file on failure)."""
    with atomic_file(path) as tmp:
        img.save(tmp, format="PNG")
