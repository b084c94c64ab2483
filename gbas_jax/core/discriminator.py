"""Discriminators as pytrees, exposing per-block features (Table 2 of the paper)."""

from __future__ import annotations

from typing import List

import jax

from .pytree import ModelPytree


class DiscriminatorModel:
    """What a discriminator architecture provides (hashable).

    ``features(params, x) -> list`` of post-activation ``(B, ...)`` arrays, one per
    block before the final logit (and before any minibatch statistic), and
    ``logits(params, x) -> (B,)``.
    """

    def features(self, params, x) -> List[jax.Array]:  # pragma: no cover
        raise NotImplementedError

    def logits(self, params, x) -> jax.Array:  # pragma: no cover
        raise NotImplementedError


@jax.tree_util.register_pytree_node_class
class Discriminator(ModelPytree):
    """A discriminator as a pytree: ``params`` are the leaves, ``model`` (a
    :class:`DiscriminatorModel`) is static."""

    __slots__ = ()

    def features(self, x) -> List[jax.Array]:
        """``(B, H, W, C) ->`` list of ``(B, ...)`` post-activation features per block."""
        return self.model.features(self.params, x)

    def __call__(self, x) -> jax.Array:
        """Critic logits ``(B,)``."""
        return self.model.logits(self.params, x)
