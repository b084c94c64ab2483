"""Every preset of the jobs in one place: E-GBAS settings per job and the
training presets of the shipped models."""

from __future__ import annotations

from .train import TrainConfig

# E-GBAS settings that belong to a *model* (the 2-D model's small steps, say) are
# not here: they are the model's recommendation, in its architecture.json
# (gbas_jax.apps.settings).  These are the presets of the jobs themselves.

#: ``gbas-jax reproduce``: room for 65,536 rejected candidates.  eps_L2 is calibrated
#: from the *stored* rejected candidates and the buffer keeps the first M; at layer 1
#: GB-RRT rejects tens of thousands, and with M = 1,024 only the early ones near the
#: query were used (docs/reproduction.md).
REPRODUCE = {"reject_capacity": 65536}

#: ``gbas-jax reproduce --quick``: 2 queries, layers 1-2, a small tree and short BerOpt.
REPRODUCE_QUICK = {"queries": 2, "layers": (1, 2), "mc_proposals": 512,
                   "egbas": {"capacity": 64, "proposals": 16, "ber_steps": 60}}

#: ``gbas-jax train --preset NAME``: the settings of the shipped models.
TRAIN = {
    "dcgan-mnist": TrainConfig(),
    "dcgan-mnist-2d": TrainConfig(latent_dim=2, widths=(64, 32, 16, 16), disc_widths=(16, 16, 32), steps=3000),
}
