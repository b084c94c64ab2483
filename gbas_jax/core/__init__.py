"""The numerical core: pure JAX, no Flax, no files.

The model protocol (:class:`LayeredModel`, :class:`LinearMap`), the
:class:`Generator` and :class:`Discriminator` pytrees, :class:`EGBASConfig`,
region membership (full and kept-unit paths), BerOpt, GB-RRT, E-GBAS for one
query, the epsilon baselines and the paper's metrics.
"""

from . import baselines, metrics
from .beropt import BerOptState, ber_opt
from .config import EGBASConfig
from .discriminator import Discriminator, DiscriminatorModel
from .egbas import egbas
from .model import ConvGeometry, FunctionalModel, Generator, LayeredModel, LinearMap
from .queries import query_latents
from .region import halfspace_indicator, in_region, nrs_fraction, region_margin
from .results import BerOptResult, EGBASResult, RRTResult, StopReason
from .rrt import RRTState, gb_rrt
from .tracing import TRACE_COUNTS

__all__ = [
    "baselines", "metrics", "BerOptState", "ber_opt", "EGBASConfig", "Discriminator",
    "DiscriminatorModel", "egbas", "ConvGeometry", "FunctionalModel", "Generator", "LayeredModel",
    "LinearMap", "query_latents", "halfspace_indicator", "in_region", "nrs_fraction", "region_margin",
    "BerOptResult", "EGBASResult", "RRTResult", "StopReason", "RRTState", "gb_rrt", "TRACE_COUNTS",
]
