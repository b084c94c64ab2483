"""PyTorch versions of the project's models, for tests and benchmarks only
(torch is not a dependency of gbas-jax; this package is not installed with it).

* :mod:`torch_mirror.layouts`: modules written after the public PyTorch code
  the converters read (pytorch_GAN_zoo ``GNet``/``DNet``, GAN-dissection
  ``proggan``, PyTorch-examples DCGAN, Wasserstein-GAN ``DCGAN_G``/``DCGAN_D``),
  randomly initialised, saved in their own key layouts: the converters' parity
  tests load them back through gbas-jax.
* :mod:`torch_mirror.dcgan`: :class:`~torch_mirror.dcgan.TorchDCGAN`, a gbas-jax
  DCGAN with its weights copied into PyTorch modules and the same block
  decomposition (``features``, ``boundary``, ``decode``): the PyTorch reference
  implementations of the benchmarks run on it.

Importable from the repository root (pytest's ``pythonpath`` setting, or
``python -m benchmarks`` run there).
"""
