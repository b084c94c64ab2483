"""gbas-jax: explorative generative-boundary-aware sampling (E-GBAS) in JAX.

Jeon, Jeong, Choi, "An Efficient Explorative Sampling Considering the Generative
Boundaries of Deep Generative Neural Networks", AAAI 2020.
"""

from . import baselines, metrics, models, viz
from ._tracing import TRACE_COUNTS
from .beropt import BerOptResult, BerOptState, ber_opt
from .config import EGBASConfig
from .discriminator import Discriminator, DiscriminatorModel, FlaxDiscriminatorModel
from .egbas import EGBASResult, egbas, egbas_batch, egbas_batch_keys, memory_per_query, query_mesh
from .generator import FlaxModel, FunctionalModel, Generator, LayeredModel
from .region import halfspace_indicator, in_region, nrs_fraction, region_margin
from .rrt import (STOP_CAPACITY, STOP_MAX_ITERATIONS, RRTResult, RRTState, gb_rrt,
                  stop_reason_name)

__version__ = "0.1.0"

__all__ = [
    "EGBASConfig", "EGBASResult", "BerOptResult", "BerOptState", "RRTResult", "RRTState",
    "Generator", "LayeredModel", "FunctionalModel", "FlaxModel",
    "Discriminator", "DiscriminatorModel", "FlaxDiscriminatorModel",
    "ber_opt", "halfspace_indicator", "in_region", "region_margin", "nrs_fraction",
    "gb_rrt", "egbas", "egbas_batch", "egbas_batch_keys", "memory_per_query", "query_mesh", "stop_reason_name", "STOP_CAPACITY", "STOP_MAX_ITERATIONS",
    "baselines", "metrics", "models", "viz", "TRACE_COUNTS",
]

from .checkpoint import PRETRAINED, load_discriminator, load_pretrained, save_model  # noqa: E402

__all__ += ["load_pretrained", "load_discriminator", "save_model", "PRETRAINED"]
