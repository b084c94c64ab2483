"""Generator and discriminator architectures with random initialisation."""

from .dcgan import DCGANDiscriminator, DCGANGenerator, dcgan, dcgan_discriminator, default_widths

__all__ = ["DCGANGenerator", "DCGANDiscriminator", "dcgan", "dcgan_discriminator", "default_widths"]
