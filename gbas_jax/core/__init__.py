"""The numerical core: pure JAX functions of arrays, no Flax, no files, no state.

The model protocol (:class:`LayeredModel`, :class:`LinearMap`), the
:class:`Generator` and :class:`Discriminator` pytrees, :class:`EGBASConfig`,
region membership (full and kept-unit paths), BerOpt and GB-RRT as ``init`` /
``step`` / ``done`` over typed states, E-GBAS's two stages, the epsilon baselines
and the paper's metrics.  :mod:`gbas_jax.runtime` compiles and runs them.
"""

from . import baselines, metrics
from .beropt import BerOptState
from .config import EGBASConfig
from .discriminator import Discriminator, DiscriminatorModel
from .latents import query_latents
from .model import ConvGeometry, FunctionalModel, Generator, LayeredModel, LinearMap
from .region import halfspace_indicator, in_region, nrs_fraction, region_margin
from .results import BerOptResult, EGBASResult, RRTResult, StopReason
from .rrt import RRTState

__all__ = [
    "baselines", "metrics", "BerOptState", "EGBASConfig", "Discriminator", "DiscriminatorModel",
    "ConvGeometry", "FunctionalModel", "Generator", "LayeredModel", "LinearMap", "query_latents",
    "halfspace_indicator", "in_region", "nrs_fraction", "region_margin", "BerOptResult", "EGBASResult",
    "RRTResult", "StopReason", "RRTState",
]
