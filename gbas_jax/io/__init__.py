"""Files: model folders (orbax checkpoints + ``architecture.json``), outputs
written atomically, and pictures."""

from . import images
from .atomic import atomic_file, atomic_folder
from .cache import compile_cache, enable_compile_cache
from .checkpoint import (PRETRAINED, Model, ModelFolder, load_discriminator, load_model, load_pretrained, open_model,
                         read_architecture, save_model)

__all__ = ["images", "atomic_file", "atomic_folder", "compile_cache", "enable_compile_cache", "PRETRAINED", "Model",
           "ModelFolder", "load_discriminator", "load_model", "load_pretrained", "open_model", "read_architecture",
           "save_model"]
