"""Discriminators as pytrees, exposing per-block features (Table 2 of the paper)."""

from __future__ import annotations

import dataclasses
from typing import Any, List

import jax


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


@dataclasses.dataclass(frozen=True)
class FlaxDiscriminatorModel(DiscriminatorModel):
    """Adapter for a linen module with ``features(x)`` and ``__call__(x)``."""

    module: Any

    def features(self, params, x):
        return self.module.apply(params, x, method="features")

    def logits(self, params, x):
        return self.module.apply(params, x)


@jax.tree_util.register_pytree_node_class
class Discriminator:
    """A discriminator: ``params`` are leaves, ``model`` is static."""

    __slots__ = ("model", "params")

    def __init__(self, model: DiscriminatorModel, params: Any):
        self.model = model
        self.params = params

    def tree_flatten(self):
        return (self.params,), self.model

    @classmethod
    def tree_unflatten(cls, model, children):
        return cls(model, children[0])

    def features(self, x) -> List[jax.Array]:
        """``(B, H, W, C) ->`` list of ``(B, ...)`` post-activation features per block."""
        return self.model.features(self.params, x)

    def __call__(self, x) -> jax.Array:
        """Critic logits ``(B,)``."""
        return self.model.logits(self.params, x)
