"""A network as a pytree: parameters are the leaves, the architecture is static."""

from __future__ import annotations

from typing import Any


class ModelPytree:
    """Base of :class:`~gbas_jax.Generator` and :class:`~gbas_jax.Discriminator`:
    ``params`` (any pytree of arrays) are the leaves and ``model`` (hashable) is
    the static part, so jitted functions take the network as an argument and
    recompile only for a new architecture.  Subclasses register themselves with
    ``jax.tree_util.register_pytree_node_class``."""

    __slots__ = ("model", "params")

    def __init__(self, model: Any, params: Any):
        self.model = model
        self.params = params

    def tree_flatten(self):
        return (self.params,), self.model

    @classmethod
    def tree_unflatten(cls, model, children):
        return cls(model, children[0])

    def __repr__(self):
        return f"{type(self).__name__}({self.model!r})"
