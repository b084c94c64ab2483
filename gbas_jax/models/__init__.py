"""Generator and discriminator architectures with random initialisation."""

from .dcgan import DCGANDiscriminator, DCGANGenerator, dcgan, dcgan_discriminator, default_widths
from .pggan import PGGANDiscriminator, PGGANGenerator, pggan, pggan_discriminator

__all__ = ["DCGANGenerator", "DCGANDiscriminator", "dcgan", "dcgan_discriminator", "default_widths",
           "PGGANGenerator", "PGGANDiscriminator", "pggan", "pggan_discriminator"]
