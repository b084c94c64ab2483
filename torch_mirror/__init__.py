"""PyTorch versions of the project's models, for tests and benchmarks only
(torch is not a dependency of gbas-jax; this package is not installed with it).

* :mod:`torch_mirror.layouts`: modules written after the public PyTorch code
  the converters read (pytorch_GAN_zoo ``GNet``/``DNet``, GAN-dissection
  ``proggan``, PyTorch-examples DCGAN, Wasserstein-GAN ``DCGAN_G``/``DCGAN_D``),
  randomly initialised, saved in their own key layouts: the converters' parity
  tests load them back through gbas-jax.
* :mod:`torch_mirror.stylegan2`: a StyleGAN2 with stylegan2-ada-pytorch's key names
  (what the StyleGAN2 converters and file writers of the tests start from), and
  its split into gbas-jax's layers for the references.
* :mod:`torch_mirror.dcgan` / :mod:`torch_mirror.pggan`:
  :class:`~torch_mirror.dcgan.TorchDCGAN` and
  :class:`~torch_mirror.pggan.TorchPGGAN`, gbas-jax generators with their weights
  copied into PyTorch modules and the same block decomposition (``features``,
  ``boundary``, ``decode``; :mod:`torch_mirror.base`): the PyTorch reference
  implementations of the benchmarks run on them.  :func:`from_jax` picks the
  mirror for a generator.
* :mod:`torch_mirror.reference_torch` / :mod:`torch_mirror.batched_torch`: the
  PyTorch implementations of E-GBAS that ``python -m benchmarks`` compares
  gbas-jax with and the tests check against the library: the paper's algorithm as
  written (one mask, one proposal at a time) and the strongest batched version we
  could write, with both the paper's BerOpt and the library's.

Importable from the repository root (pytest's ``pythonpath`` setting, or
``python -m benchmarks`` run there).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from .base import MirrorBase
from .dcgan import TorchDCGAN
from .pggan import TorchPGGAN
from .stylegan2 import TorchStyleGAN2, TorchStyleGAN2Layers


def from_jax(gen, fold: bool = False, channels_last: bool = False) -> MirrorBase:
    """The PyTorch mirror of a gbas-jax DCGAN or PGGAN ``Generator``.

    ``fold``: fold what a careful PyTorch user folds for inference into the
    weights (a DCGAN's eval-mode BatchNorm, a PGGAN's equalised-learning-rate
    constants); ``channels_last``: activations physically NHWC.
    """
    from gbas_jax.models.dcgan import DCGANGenerator
    from gbas_jax.models.pggan import PGGANGenerator
    from gbas_jax.models.stylegan2 import StyleGAN2Generator

    module = getattr(gen.model, "module", None)
    if isinstance(module, StyleGAN2Generator):
        return TorchStyleGAN2Layers.from_jax(gen)
    if isinstance(module, DCGANGenerator):
        return TorchDCGAN.from_jax(gen, fold_bn=fold, channels_last=channels_last)
    if isinstance(module, PGGANGenerator):
        return TorchPGGAN.from_jax(gen, fold=fold, channels_last=channels_last)
    raise NotImplementedError(f"no PyTorch mirror for {type(module).__name__}; "
                              "the mirrors cover gbas-jax's DCGAN, PGGAN and StyleGAN2 generators")


def check_mirror(gen, z, layers: Iterable[int] | None = None, net: MirrorBase | None = None,
                 fold: bool = False, channels_last: bool = False) -> dict[str, float]:
    """Same weights check: largest error of the mirror against the JAX generator,
    relative to the largest magnitude of the JAX value, for ``generate`` and, per
    layer, ``boundary``, ``features`` and ``decode(features)`` (the JAX features fed
    to the mirror after an NHWC -> NCHW transpose).

    Args: gen: JAX Generator; z: ``(B, Dz)`` numpy; layers: default all.
    Returns: ``{"generate": err, "boundary_1": err, ...}`` (floats).
    """
    import jax
    import jax.numpy as jnp

    net = from_jax(gen, fold=fold, channels_last=channels_last) if net is None else net
    z = np.asarray(z, np.float32)
    zt = torch.from_numpy(z)
    layers = range(1, gen.num_layers + 1) if layers is None else layers

    def rel(a, b):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))

    with jax.default_matmul_precision("highest"), torch.inference_mode():
        out = {"generate": rel(net.generate(zt), gen.generate(jnp.asarray(z)))}
        for layer in layers:
            out[f"boundary_{layer}"] = rel(net.boundary(zt, layer), gen.boundary(jnp.asarray(z), layer))
            hj = np.asarray(gen.features(jnp.asarray(z), layer))
            out[f"features_{layer}"] = rel(net.features(zt, layer).permute(0, 2, 3, 1), hj)
            ht = torch.from_numpy(np.ascontiguousarray(hj.transpose(0, 3, 1, 2)))
            out[f"decode_{layer}"] = rel(net.decode(ht, layer), gen.decode(jnp.asarray(hj), layer))
    return out


__all__ = ["MirrorBase", "TorchDCGAN", "TorchPGGAN", "TorchStyleGAN2", "TorchStyleGAN2Layers", "check_mirror",
           "from_jax"]
