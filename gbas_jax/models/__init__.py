"""Generator and discriminator architectures (Flax linen) with random
initialisation, the adapters to the core's protocols and the registry from an
architecture entry to a model."""

from . import registry
from .adapters import FlaxDiscriminatorModel, FlaxModel
from .dcgan import DCGANDiscriminator, DCGANGenerator, dcgan, dcgan_discriminator, default_widths
from .pggan import PGGANDiscriminator, PGGANGenerator, pggan, pggan_discriminator
from .views import view

__all__ = ["registry", "FlaxModel", "FlaxDiscriminatorModel",
           "DCGANGenerator", "DCGANDiscriminator", "dcgan", "dcgan_discriminator", "default_widths",
           "PGGANGenerator", "PGGANDiscriminator", "pggan", "pggan_discriminator", "view"]
