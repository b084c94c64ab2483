"""Writers of StyleGAN2 files in the forms users hold them, built on the PyTorch
mirror (test support, not a test module):

* :func:`write_nvlabs_pickle`: a network pickle as stylegan2-ada-pytorch's training
  loop writes its snapshots -- ``pickle.dump`` of ``{"training_set_kwargs", "G",
  "D", "G_ema", "augment_pipe"}``, every network reduced by NVIDIA's persistence
  mechanism to ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` with
  ``meta = {"type", "version", "module_src", "class_name", "state"}`` (the
  module's ``__dict__``), tensors as plain ``pickle`` writes them (storages through
  ``torch.storage._load_from_bytes``), constructor arguments as
  ``dnnlib.util.EasyDict``.  The two globals come from stand-in modules installed
  while writing; the file names exactly what NVlabs' files name.
* :func:`write_rosinality`: rosinality/stylegan2-pytorch's checkpoints (``torch.save``
  of ``{"g_ema", "latent_avg"}`` or of a training dict with ``args`` an
  ``argparse.Namespace``), the mirror's weights under rosinality's key names.

``benchmarks/stylegan2_parity.py`` (run once against the peers' own code, its result
committed) checks that these writers' files are the peers' files.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import pickle
import sys
import types
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from torch_mirror import stylegan2 as ms

#: The NVlabs class of every mirror module.
CLASS_NAMES = {ms.TorchStyleGAN2: "Generator", ms.Mapping: "MappingNetwork", ms.FullyConnected: "FullyConnectedLayer",
               ms.Synthesis: "SynthesisNetwork", ms.Block: "SynthesisBlock", ms.SynthesisLayer: "SynthesisLayer",
               ms.ToRGB: "ToRGBLayer", ms.Skip: "Conv2dLayer", ms.TorchStyleGAN2Discriminator: "Discriminator",
               ms.DiscriminatorBlock: "DiscriminatorBlock", ms.Epilogue: "DiscriminatorEpilogue",
               ms.MinibatchStd: "MinibatchStdLayer", ms.Conv2dLayer: "Conv2dLayer"}
MODULE_SRC = '"""Network architectures from the paper "Analyzing and Improving the Image Quality of StyleGAN"."""\n'


class EasyDict(dict):
    pass


@contextlib.contextmanager
def _stand_ins():
    """``torch_utils.persistence`` and ``dnnlib.util`` with the two names the files use."""
    def _reconstruct_persistent_obj(meta):          # never called: the file is only written
        raise RuntimeError("stand-in")
    mods = {"torch_utils": types.ModuleType("torch_utils"),
            "torch_utils.persistence": types.ModuleType("torch_utils.persistence"),
            "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": types.ModuleType("dnnlib.util")}
    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    mods["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    EasyDict.__module__ = "dnnlib.util"
    mods["dnnlib.util"].EasyDict = EasyDict
    saved = {k: sys.modules.get(k) for k in mods}
    sys.modules.update(mods)
    try:
        yield _reconstruct_persistent_obj
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def _easy(obj):
    if isinstance(obj, dict):
        return EasyDict({k: _easy(v) for k, v in obj.items()})
    return obj


class _Pickler(pickle.Pickler):
    def __init__(self, f, protocol, reconstruct, class_names, numpy_gains, extra):
        super().__init__(f, protocol=protocol)
        self.reconstruct, self.class_names, self.numpy_gains, self.extra = reconstruct, class_names, numpy_gains, extra

    def reducer_override(self, obj):
        if isinstance(obj, nn.Module):
            state = dict(obj.__dict__)
            state["_init_args"] = ()
            state["_init_kwargs"] = _easy(getattr(obj, "init_kwargs", {}))
            if self.numpy_gains:              # NVIDIA's layers keep their gains as numpy.float64
                for k in ("weight_gain", "bias_gain"):
                    if isinstance(state.get(k), float):
                        state[k] = np.float64(state[k])
            name = self.class_names.get(type(obj), type(obj).__name__)
            meta = dict(type="class", version=6, module_src=MODULE_SRC, class_name=name, state=state)
            return self.reconstruct, (meta,)
        return NotImplemented


def write_nvlabs_pickle(path, G, D=None, protocol: int = 4, class_names=None, extra=None) -> None:
    """``G`` (a :class:`torch_mirror.stylegan2.TorchStyleGAN2`) as ``G`` and ``G_ema``,
    ``D`` as ``D``, in stylegan2-ada-pytorch's snapshot form.  ``class_names``
    overrides the NVlabs class of mirror classes; ``extra`` adds top-level entries."""
    names = {**CLASS_NAMES, **(class_names or {})}
    data = {"training_set_kwargs": {"class_name": "training.dataset.ImageFolderDataset", "path": "data.zip",
                                    "use_labels": bool(G.c_dim), "max_size": 100, "xflip": False,
                                    "resolution": G.init_kwargs["img_resolution"]},
            "G": G, "D": D, "G_ema": G, "augment_pipe": None, **(extra or {})}
    with _stand_ins() as reconstruct, open(path, "wb") as f:
        _Pickler(f, protocol, reconstruct, names, True, extra).dump(data)


# -- rosinality --------------------------------------------------------------------------------

def rosinality_state_dicts(G: "ms.TorchStyleGAN2", D=None):
    """The mirror's weights under rosinality's generator and discriminator key
    names (its modulated convolutions' weights divided by their run-time scale)."""
    sd = {k: v.detach().clone() for k, v in G.state_dict().items()}
    out = OrderedDict()
    for i in range(G.mapping.num_layers):
        out[f"style.{i + 1}.weight"] = sd[f"mapping.fc{i}.weight"]
        out[f"style.{i + 1}.bias"] = sd[f"mapping.fc{i}.bias"]
    out["input.input"] = sd["synthesis.b4.const"][None]

    def layer(src, dst, noise):
        w = sd[f"{src}.weight"]
        out[f"{dst}.conv.weight"] = (w / (1.0 / math.sqrt(w.shape[1] * w.shape[2] * w.shape[3])))[None]
        out[f"{dst}.conv.modulation.weight"] = sd[f"{src}.affine.weight"]
        out[f"{dst}.conv.modulation.bias"] = sd[f"{src}.affine.bias"]
        out[f"{dst}.noise.weight"] = sd[f"{src}.noise_strength"].reshape(1)
        out[f"{dst}.activate.bias"] = sd[f"{src}.bias"]
        out[f"noises.noise_{noise}"] = sd[f"{src}.noise_const"][None, None]

    def torgb(src, dst):
        out[f"{dst}.bias"] = sd[f"{src}.bias"].reshape(1, -1, 1, 1)
        out[f"{dst}.conv.weight"] = sd[f"{src}.weight"][None]
        out[f"{dst}.conv.modulation.weight"] = sd[f"{src}.affine.weight"]
        out[f"{dst}.conv.modulation.bias"] = sd[f"{src}.affine.bias"]

    layer("synthesis.b4.conv1", "conv1", 0)
    torgb("synthesis.b4.torgb", "to_rgb1")
    for j, r in enumerate(G.synthesis.resolutions[1:]):
        layer(f"synthesis.b{r}.conv0", f"convs.{2 * j}", 2 * j + 1)
        layer(f"synthesis.b{r}.conv1", f"convs.{2 * j + 1}", 2 * j + 2)
        torgb(f"synthesis.b{r}.torgb", f"to_rgbs.{j}")
    d = None
    if D is not None:
        s = {k: v.detach().clone() for k, v in D.state_dict().items()}
        R = D.resolutions[0]
        d = OrderedDict([("convs.0.0.weight", s[f"b{R}.fromrgb.weight"]), ("convs.0.1.bias", s[f"b{R}.fromrgb.bias"])])
        for k, r in enumerate(D.resolutions, start=1):
            d[f"convs.{k}.conv1.0.weight"] = s[f"b{r}.conv0.weight"]
            d[f"convs.{k}.conv1.1.bias"] = s[f"b{r}.conv0.bias"]
            d[f"convs.{k}.conv2.0.kernel"] = ms.fir_filter()
            d[f"convs.{k}.conv2.1.weight"] = s[f"b{r}.conv1.weight"]
            d[f"convs.{k}.conv2.2.bias"] = s[f"b{r}.conv1.bias"]
            d[f"convs.{k}.skip.0.kernel"] = ms.fir_filter()
            d[f"convs.{k}.skip.1.weight"] = s[f"b{r}.skip.weight"]
        d.update({"final_conv.0.weight": s["b4.conv.weight"], "final_conv.1.bias": s["b4.conv.bias"],
                  "final_linear.0.weight": s["b4.fc.weight"], "final_linear.0.bias": s["b4.fc.bias"],
                  "final_linear.1.weight": s["b4.out.weight"], "final_linear.1.bias": s["b4.out.bias"]})
    return out, d


def write_rosinality(path, G, D=None, training: bool = False) -> None:
    """``{"g_ema", "latent_avg"}`` (the official conversions), or with ``training`` the
    training checkpoint ``{"g", "d", "g_ema", "g_optim", "d_optim", "args", "ada_aug_p"}``."""
    g, d = rosinality_state_dicts(G, D)
    latent_avg = G.mapping.w_avg.detach().clone()
    if not training:
        torch.save({"g_ema": g, "latent_avg": latent_avg}, path)
        return
    args = argparse.Namespace(path="lmdb", arch="stylegan2", iter=800000, batch=16, size=G.init_kwargs["img_resolution"],
                              r1=10.0, latent=G.w_dim, n_mlp=G.mapping.num_layers, channel_multiplier=2,
                              lr=0.002, augment=False)
    opt = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(2)}},
           "param_groups": [{"lr": 0.002, "betas": (0.0, 0.99), "params": [0]}]}
    torch.save({"g": g, "d": d, "g_ema": g, "g_optim": opt, "d_optim": opt, "args": args, "ada_aug_p": 0.0}, path)
