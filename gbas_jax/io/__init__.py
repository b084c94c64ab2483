"""Files: model folders (orbax checkpoints + ``architecture.json``), outputs
written atomically, and pictures."""

from . import images
from .atomic import atomic_file, atomic_folder
from .checkpoint import PRETRAINED, load_discriminator, load_pretrained, read_architecture, save_model

__all__ = ["images", "atomic_file", "atomic_folder", "PRETRAINED", "load_discriminator", "load_pretrained",
           "read_architecture", "save_model"]
