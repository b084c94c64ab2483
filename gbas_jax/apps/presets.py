"""Every preset of the jobs in one place: E-GBAS settings per job and the
training presets of the shipped models."""

from __future__ import annotations

from ..core.config import EGBASConfig
from .train import TrainConfig

#: ``gbas-jax boundaries`` (latent units of a 2-D N(0, I) prior): a larger lambda
#: keeps fewer boundaries, so the picture stays readable.
BOUNDARIES = EGBASConfig(ber_lambda=1.0, step_size=0.05, interval=1.0, capacity=400, proposals=16)

#: ``gbas-jax reproduce``: the library defaults with room for 65,536 rejected
#: candidates.  eps_L2 is calibrated from the *stored* rejected candidates and the
#: buffer keeps the first M; at layer 1 GB-RRT rejects tens of thousands, and with
#: M = 1,024 only the early ones near the query were used (docs/reproduction.md).
REPRODUCE = EGBASConfig(reject_capacity=65536)

#: ``gbas-jax reproduce --quick``: 2 queries, layers 1-2, a small tree and short BerOpt.
REPRODUCE_QUICK = dict(queries=2, layers=(1, 2), mc_proposals=512, capacity=64, proposals=16, ber_steps=60)

#: ``gbas-jax train --preset NAME``: the settings of the shipped models.
TRAIN = {
    "dcgan-mnist": TrainConfig(),
    "dcgan-mnist-2d": TrainConfig(latent_dim=2, widths=(64, 32, 16, 16), disc_widths=(16, 16, 32), steps=3000),
}
