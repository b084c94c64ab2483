"""Training-snapshot writers: the dicts real training scripts ``torch.save``,
built around the mirror's networks (for the converters' snapshot tests).

* :func:`tutorial` -- the PyTorch DCGAN tutorial and its descendants:
  ``{"epoch", "netG_state_dict", "netD_state_dict", "optimizerG_state_dict",
  "optimizerD_state_dict", "loss"}`` with real Adam states.
* :func:`lightning` -- a PyTorch Lightning checkpoint: the LightningModule's
  ``state_dict`` (``generator.*`` / ``discriminator.*``), ``hyper_parameters``
  as Lightning's ``AttributeDict`` (a dict subclass from a module the reader
  cannot import), optimiser states, loops and callbacks.
* :func:`ema_pair` -- ``{"g", "g_ema", "d", "g_optim", "d_optim", "args"}``
  around a DCGAN (rosinality's training-checkpoint shape, other networks).
* :func:`ddp_models` -- ``{"models": {"generator": {"module.*"}, ...}}`` as
  trainers that wrap their networks in DistributedDataParallel save them.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import sys
import types

import torch


def _adam_state(module: torch.nn.Module) -> dict:
    module = copy.deepcopy(module)   # the step must not move the weights being saved
    opt = torch.optim.Adam(module.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loss = sum(p.square().sum() for p in module.parameters())
    loss.backward()
    opt.step()
    module.zero_grad()
    return opt.state_dict()


class AttributeDict(dict):
    """Lightning's hyper-parameter container (a dict with attribute access)."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


@contextlib.contextmanager
def _as_module(cls, module: str):
    """Pickle ``cls`` under ``module`` (a module the reader has never heard of)."""
    parts = module.split(".")
    added = []
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        if name not in sys.modules:
            sys.modules[name] = types.ModuleType(name)
            added.append(name)
    old = cls.__module__
    cls.__module__ = module
    setattr(sys.modules[module], cls.__name__, cls)
    try:
        yield
    finally:
        cls.__module__ = old
        for name in added:
            del sys.modules[name]


def tutorial(G, D, path: str, **save_kw) -> str:
    torch.save({"epoch": 25, "netG_state_dict": G.state_dict(), "netD_state_dict": D.state_dict(),
                "optimizerG_state_dict": _adam_state(G), "optimizerD_state_dict": _adam_state(D),
                "loss": 0.6931}, path, **save_kw)
    return path


def lightning(G, D, path: str, **save_kw) -> str:
    state = {**{f"generator.{k}": v for k, v in G.state_dict().items()},
             **{f"discriminator.{k}": v for k, v in D.state_dict().items()}}
    hp = AttributeDict(latent_dim=int(G.main[0].in_channels), lr=2e-4, b1=0.5, b2=0.999, batch_size=64)
    with _as_module(AttributeDict, "lightning_fabric.utilities.data"):
        torch.save({"epoch": 3, "global_step": 1200, "pytorch-lightning_version": "2.4.0",
                    "state_dict": state, "hyper_parameters": hp,
                    "optimizer_states": [_adam_state(G), _adam_state(D)], "lr_schedulers": [],
                    "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"current": {"completed": 3}}}},
                    "callbacks": {"ModelCheckpoint{'monitor': None}": {"best_model_score": None}}},
                   path, **save_kw)
    return path


def ema_pair(G, G_ema, D, path: str, **save_kw) -> str:
    torch.save({"g": G.state_dict(), "g_ema": G_ema.state_dict(), "d": D.state_dict(),
                "g_optim": _adam_state(G), "d_optim": _adam_state(D),
                "args": argparse.Namespace(size=64, batch=16, iter=800000)}, path, **save_kw)
    return path


def ddp_models(G, D, path: str, **save_kw) -> str:
    torch.save({"models": {"generator": {f"module.{k}": v for k, v in G.state_dict().items()},
                           "discriminator": {f"module.{k}": v for k, v in D.state_dict().items()}},
                "optimizers": {"generator": _adam_state(G)}, "running_stats": {"iter": 100}}, path, **save_kw)
    return path


__all__ = ["AttributeDict", "tutorial", "lightning", "ema_pair", "ddp_models"]
