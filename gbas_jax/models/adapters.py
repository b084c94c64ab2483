"""Adapters from Flax linen modules to the core's model protocols."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..core.discriminator import DiscriminatorModel
from ..core.model import LayeredModel


@dataclasses.dataclass(frozen=True)
class FlaxModel(LayeredModel):
    """A Flax linen module with methods ``input_transform(z)``,
    ``pre_activation(h, layer)``, ``activation(a, layer)`` (optionally
    ``linear_map(layer)``, and for layer states ``next_state``, ``units``,
    ``with_units``) and attributes ``latent_dim`` and ``num_layers`` as a
    :class:`~gbas_jax.core.model.LayeredModel`; ``params`` is the module's variable
    dict (``{"params": ..., "batch_stats": ...}``).
    """

    module: Any

    @property
    def latent_dim(self) -> int:
        return self.module.latent_dim

    @property
    def num_layers(self) -> int:
        return self.module.num_layers

    def input_transform(self, params, z):
        return self.module.apply(params, z, method="input_transform")

    def pre_activation(self, params, h, layer):
        return self.module.apply(params, h, layer, method="pre_activation")

    def activation(self, params, a, layer):
        return self.module.apply(params, a, layer, method="activation")

    def linear_map(self, params, layer):
        if not hasattr(self.module, "linear_map"):
            return None
        return self.module.apply(params, layer, method="linear_map")

    # Layer states (LayeredModel): a module that carries more than its units from
    # one block to the next defines ``next_state(h, a, layer)`` and the static
    # methods ``units(h)`` / ``with_units(h, x)``.
    def next_state(self, params, h, a, layer):
        if not hasattr(self.module, "next_state"):
            return self.activation(params, a, layer)
        return self.module.apply(params, h, a, layer, method="next_state")

    def units(self, h):
        return self.module.units(h) if hasattr(self.module, "units") else h

    def with_units(self, h, x):
        return self.module.with_units(h, x) if hasattr(self.module, "with_units") else x

    def cache_identity(self):
        # Only gbas-jax's own modules: their code is covered by the stage key's
        # source hash, and their dataclass fields (ints, tuples, strings) are all
        # the settings they have.  A user's module could change code under one name.
        cls = type(self.module)
        if not cls.__module__.startswith("gbas_jax."):
            return None
        fields = {f.name: getattr(self.module, f.name) for f in dataclasses.fields(self.module)
                  if f.name not in ("parent", "name")}
        return f"{cls.__module__}.{cls.__qualname__}{sorted(fields.items())!r}"


@dataclasses.dataclass(frozen=True)
class FlaxDiscriminatorModel(DiscriminatorModel):
    """A linen module with ``features(x)`` and ``__call__(x)`` as a
    :class:`~gbas_jax.core.discriminator.DiscriminatorModel`."""

    module: Any

    def features(self, params, x):
        return self.module.apply(params, x, method="features")

    def logits(self, params, x):
        return self.module.apply(params, x)
