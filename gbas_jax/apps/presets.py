"""Every preset of the jobs in one place: E-GBAS settings per job and the
training presets of the shipped models."""

from __future__ import annotations

from .train import TrainConfig
from .train_stylegan2 import StyleGAN2TrainConfig

# E-GBAS settings that belong to a *model* (the 2-D model's small steps, say) are
# not here: they are the model's recommendation, in its architecture.json
# (gbas_jax.apps.settings).  These are the presets of the jobs themselves.

#: ``gbas-jax reproduce --quick``: 2 queries, layers 1-2 and small trees.  BerOpt
#: runs at its defaults, since a BerOpt cut short keeps boundaries that do not
#: matter (it converges by itself in 550-800 one-mask steps on dcgan-mnist).
REPRODUCE_QUICK = {"queries": 2, "layers": (1, 2), "mc_proposals": 512,
                   "egbas": {"capacity": 64, "proposals": 16}}

#: ``gbas-jax train --preset NAME``: the settings of the shipped models.
TRAIN = {
    "dcgan-mnist": TrainConfig(),
    "dcgan-mnist-2d": TrainConfig(latent_dim=2, widths=(64, 32, 16, 16), disc_widths=(16, 16, 32), steps=3000),
    # PGGAN (pytorch_GAN_zoo layout) at a fixed 32x32, no progressive growing; the
    # PGGAN paper's optimiser (Adam 1e-3, betas (0, 0.99), one critic step per
    # generator step, drift 1e-3, moving average 0.999), batch 32 to fit the budget.
    "pggan-mnist": TrainConfig(architecture="pggan", latent_dim=128, image_size=32, widths=(64, 64, 32, 16),
                               disc_widths=(64, 64, 32, 16), steps=5000, batch_size=32, n_critic=1, lr=1e-3,
                               beta1=0.0, beta2=0.99, drift=1e-3, ema=0.999),
    # StyleGAN2 at 32x32 (the digits padded as for pggan-mnist), sized for a 2-core CPU:
    # z and w 64, a 3-layer mapping, channels min(1024 / r, 128), a resnet
    # discriminator min(512 / r, 64); StyleGAN2's optimiser and lazy R1.
    "stylegan2-mnist": StyleGAN2TrainConfig(),
}
