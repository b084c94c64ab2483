r"""The paper's metrics (Section 4.2).

* :func:`image_variation` (Table 1, Eq. 3): per-pixel standard deviation over the
  sample set (``ddof = 0``), averaged over pixels and channels.
* :func:`discriminator_similarity` (Table 2, Eq. 2): for each discriminator block,
  :math:`\mathbb{E}_z \cos(d_l(G(z)), d_l(G(z_0)))` over flattened post-activation
  features.
* :func:`~gbas_jax.core.region.nrs_fraction` (Definition 4) lives with the region code;
  :func:`set_metrics` computes all of them for one sample set.

All take only valid rows: slice by ``num_samples`` first, or pass ``mask``.
"""

from __future__ import annotations

import jax.numpy as jnp

from .region import in_region, nrs_fraction


def _weights(n, mask):
    if mask is None:
        return jnp.ones((n,), jnp.float32)
    mask = jnp.asarray(mask)
    if mask.shape != (n,):
        raise ValueError(f"mask must have shape ({n},), got {mask.shape}")
    return mask.astype(jnp.float32)


def image_variation(images, mask=None) -> jnp.ndarray:
    """Mean per-pixel std of ``images`` ``(B, H, W, C)`` over the (masked) batch -> scalar."""
    images = jnp.asarray(images, jnp.float32)
    if images.ndim < 2 or images.shape[0] < 1:
        raise ValueError(f"images must have shape (B, ...) with B >= 1, got {images.shape}")
    w = _weights(images.shape[0], mask)
    w = w.reshape((-1,) + (1,) * (images.ndim - 1))
    n = jnp.sum(w)
    mean = jnp.sum(w * images, axis=0) / n
    var = jnp.sum(w * (images - mean) ** 2, axis=0) / n
    return jnp.mean(jnp.sqrt(var))


def discriminator_similarity(disc, images, query_image, mask=None) -> jnp.ndarray:
    """Mean cosine similarity of each block's features to the query's: ``(L_D,)``.

    Args:
      disc: :class:`~gbas_jax.Discriminator`; images ``(B, H, W, C)``; query_image
      ``(H, W, C)`` or ``(1, H, W, C)``; mask: optional ``(B,)`` of valid rows.
    """
    images = jnp.asarray(images, jnp.float32)
    q = jnp.asarray(query_image, jnp.float32)
    if q.ndim == images.ndim - 1:
        q = q[None]
    if q.shape[1:] != images.shape[1:]:
        raise ValueError(f"query_image shape {q.shape[1:]} differs from images {images.shape[1:]}")
    w = _weights(images.shape[0], mask)
    out = []
    for f, f0 in zip(disc.features(images), disc.features(q)):
        f = f.reshape(f.shape[0], -1)
        f0 = f0.reshape(1, -1)
        cos = jnp.sum(f * f0, axis=1) / jnp.maximum(
            jnp.linalg.norm(f, axis=1) * jnp.linalg.norm(f0, axis=1), 1e-12)
        out.append(jnp.sum(w * cos) / jnp.sum(w))
    return jnp.stack(out)


def set_metrics(gen, disc, layer: int, z0, V, zs):
    """Table 1-2 metrics and NRS fractions of one sample set ``zs`` ``(n, Dz)``
    (valid rows only) for query ``z0`` and indicator ``V``; ``disc`` may be ``None``
    (traceable).

    Returns ``(metrics, images)``: a dict of scalars (``image_variation``,
    ``nrs_full``, ``nrs_relaxed``) and, with a discriminator, the per-block
    ``discriminator_similarity`` ``(blocks,)``; the samples' images ``(n, H, W, C)``.
    """
    imgs = gen.generate(zs)
    out = {"image_variation": image_variation(imgs),
           "nrs_full": nrs_fraction(gen, zs, layer, z0),
           "nrs_relaxed": jnp.mean(in_region(gen, zs, layer, V).astype(jnp.float32))}
    if disc is not None:
        out["discriminator_similarity"] = discriminator_similarity(disc, imgs, gen.generate(z0[None]))
    return out, imgs
