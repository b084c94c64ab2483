"""The generator views a job can ask for: the latent space (``z``, or ``w`` for a
StyleGAN2), a conditional model's label, and the frozen-styles control view; and
the query latent of a view for a seed.

The queries of every job come from :func:`gbas_jax.core.latents.query_latents`:
``N(0, I)`` in the generator's input latent (``z``); in a StyleGAN2's W view the
seeded ``z`` is mapped to its standardised ``w``
(:func:`gbas_jax.models.stylegan2.latent_from_z`), so the same seed is the same
image in both spaces.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from ..core.latents import query_latents
from ..core.model import Generator
from . import stylegan2

SPACES = stylegan2.SPACES


def _sg2(module) -> bool:
    return isinstance(module, stylegan2.StyleGAN2Generator)


def _module(gen_or_module):
    return getattr(getattr(gen_or_module, "model", None), "module", gen_or_module)


def spaces(gen) -> tuple:
    """The latent spaces of a generator (or its linen module): ``("z", "w")`` for a
    StyleGAN2, else ``("z",)``."""
    return SPACES if _sg2(_module(gen)) else ("z",)


def space_of(gen) -> str:
    module = _module(gen)
    return module.space if _sg2(module) else "z"


def label_count(gen) -> int:
    """A conditional model's number of labels (0: unconditional)."""
    module = _module(gen)
    return module.c_dim if _sg2(module) else int(getattr(module, "condition_dims", 0))


def latent_dim(gen, space: Optional[str] = None) -> int:
    """The latent size of a generator (or module) in ``space`` (default its own)."""
    module = _module(gen)
    if not _sg2(module) or space is None:
        return module.latent_dim
    return module.z_dim if space == "z" else module.w_dim


def check(gen, space: Optional[str] = None, label: Optional[int] = None) -> None:
    """``ValueError`` for a space the model lacks, a label it lacks, or a
    conditional model without one (checked on the module: no weights needed)."""
    if space is not None and space not in spaces(gen):
        raise ValueError(f"--space {space}: this model has the latent spaces {', '.join(spaces(gen))} "
                         "(W is a StyleGAN2's)")
    n = label_count(gen)
    if label is not None and not n:
        raise ValueError(f"--label {label}: this model is not conditional")
    if n and label is None:
        raise ValueError(f"this model is conditional ({n} labels): give --label K, K in 0..{n - 1}")
    if n and not 0 <= label < n:
        raise ValueError(f"--label {label}: this model has labels 0..{n - 1}")


def view(gen: Generator, *, space: Optional[str] = None, label: Optional[int] = None) -> Generator:
    """``gen`` in ``space`` (default: its own) with ``label`` set (:func:`check`)."""
    check(gen, space, label)
    if not stylegan2.is_stylegan2(gen):
        if label is None:
            return gen
        return Generator(gen.model, stylegan2.with_variable(
            gen.params, "view", "label", jax.nn.one_hot(int(label), label_count(gen), dtype=jnp.float32)))
    return stylegan2.stylegan2_view(gen, space=space, label=label)


def seeded_queries(gen: Generator, seed: int, count: Optional[int] = None) -> np.ndarray:
    """The query latents of the view ``gen`` for ``seed``: ``(Dz,)`` when ``count`` is
    ``None``, else ``(count, Dz)``."""
    if not stylegan2.is_stylegan2(gen):
        return query_latents(gen.latent_dim, seed, count)
    z = query_latents(gen.model.module.z_dim, seed, count)
    if count is None:
        return stylegan2.latent_from_z(gen, z)
    return np.stack([stylegan2.latent_from_z(gen, zi) for zi in z])


def frozen_styles(gen: Generator, layer: int, query) -> Generator:
    """The control view for ``query`` at ``layer`` (a StyleGAN2's only)."""
    if not stylegan2.is_stylegan2(gen):
        raise ValueError("frozen styles: only a StyleGAN2 has styles")
    return stylegan2.frozen_styles_view(gen, layer, query)


def record(gen: Generator, frozen: bool = False) -> dict:
    """What a job's record says of the view: nothing for a plain model; the space
    (and the label, and whether the styles above the layer were frozen) otherwise."""
    if not stylegan2.is_stylegan2(gen):
        if label_count(gen):
            return {"label": int(np.argmax(np.asarray(gen.params["view"]["label"]))),
                    "saved_latents": "the free part z only (the label is fixed)"}
        return {}
    out = {"space": space_of(gen), "frozen_styles": bool(frozen)}
    if label_count(gen):
        out["label"] = int(np.argmax(np.asarray(gen.params["view"]["label"])))
    return out
