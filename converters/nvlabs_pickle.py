"""NVlabs network pickles (stylegan2-ada-pytorch, and StyleGAN2 networks of the
stylegan3 repository) read as inert data: nothing in the file is executed.

Such a ``.pkl`` is a plain ``pickle`` of a dict ``{"G", "D", "G_ema",
"augment_pipe", "training_set_kwargs"}``.  Each network was pickled by NVIDIA's
``torch_utils.persistence``: the global ``_reconstruct_persistent_obj`` applied
to a dict ``{"type", "version", "module_src", "class_name", "state"}``, where
``module_src`` is the source of the module that defined the class (loading
normally runs it) and ``state`` the module's ``__dict__`` (``_parameters``,
``_buffers``, ``_modules`` of nested persistent objects, ``_init_kwargs``).
Tensors are ``torch._utils._rebuild_tensor_v2`` / ``_rebuild_parameter`` over
storages pickled by ``torch.storage._load_from_bytes``, each a nested legacy
``torch.save`` (read by :mod:`converters.torch_pickle`).

The whitelist adds to :mod:`converters.torch_pickle`'s exactly what these files
need: ``_reconstruct_persistent_obj`` (a :class:`Persistent` record: class name,
source text kept as a string, state), ``dnnlib.util.EasyDict`` (a dict),
``torch.storage._load_from_bytes`` (the nested reader), ``builtins.set`` (older
protocols), and NumPy scalars (``numpy.core.multiarray.scalar`` with numeric
``numpy.dtype`` s only: NVIDIA's layers keep gains such as ``weight_gain`` as
``numpy.float64``).  Every other global is refused before anything runs.

:func:`read_nvlabs` returns the generator (``G_ema``) and discriminator (``D``)
state dicts and constructor arguments; ``G``, ``augment_pipe`` and the rest are
parsed as inert records and skipped.  A class that is not part of a StyleGAN2
inside ``G_ema`` / ``D`` is refused, a StyleGAN3 generator (``SynthesisInput``)
with its own message, a TensorFlow-era pickle (``dnnlib.tflib.network.Network``)
with a pointer to NVlabs' ``legacy.py`` conversion.
"""

from __future__ import annotations

import io
import pickletools
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .torch_pickle import (_GLOBALS, CheckpointError, SafeUnpickler, UnsafePickleError, _dtype, _load_legacy,
                           _materialise, _scalar)

#: The classes of stylegan2-ada-pytorch's ``training/networks.py`` a StyleGAN2
#: generator and discriminator are made of.
GENERATOR_CLASSES = {"Generator", "MappingNetwork", "FullyConnectedLayer", "SynthesisNetwork", "SynthesisBlock",
                     "SynthesisLayer", "ToRGBLayer", "Conv2dLayer"}
DISCRIMINATOR_CLASSES = {"Discriminator", "DiscriminatorBlock", "DiscriminatorEpilogue", "MinibatchStdLayer",
                         "Conv2dLayer", "FullyConnectedLayer", "MappingNetwork"}
#: Classes only StyleGAN3 (alias-free) networks have.
STYLEGAN3_CLASSES = {"SynthesisInput"}
TF_NETWORK = ("dnnlib.tflib.network", "Network")


class Persistent:
    """An inert persistent object: ``class_name``, ``module_src`` (text, never run)
    and ``state`` (the module's pickled ``__dict__``)."""

    def __init__(self, meta):
        if not isinstance(meta, dict) or meta.get("type") != "class" or "class_name" not in meta:
            raise CheckpointError("malformed persistent object record")
        self.class_name = str(meta["class_name"])
        self.module_src = meta.get("module_src", "")
        self.state = meta.get("state") or {}
        if not isinstance(self.module_src, str) or not isinstance(self.state, dict):
            raise CheckpointError(f"malformed persistent record of class {self.class_name!r}")

    def __repr__(self):
        return f"Persistent({self.class_name})"


class EasyDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict``: a dict (its pickled state is ignored)."""

    def __setstate__(self, state):
        pass


def _load_from_bytes(data):
    if not isinstance(data, (bytes, bytearray)):
        raise CheckpointError("malformed nested storage")
    return _load_legacy(io.BytesIO(bytes(data)))


_NVLABS_GLOBALS: Dict[Tuple[str, str], Any] = {
    **_GLOBALS,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): Persistent,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("torch.storage", "_load_from_bytes"): _load_from_bytes,
    ("builtins", "set"): set,
    ("__builtin__", "set"): set,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy", "dtype"): _dtype,
}


class NVlabsUnpickler(SafeUnpickler):
    def find_class(self, module, name):
        if (module, name) == TF_NETWORK:
            raise CheckpointError("a TensorFlow-era network pickle (dnnlib.tflib): convert it to a PyTorch "
                                  "pickle with NVlabs' stylegan2-ada-pytorch legacy.py first "
                                  "(python legacy.py --source=IN.pkl --dest=OUT.pkl)")
        try:
            return _NVLABS_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load global '{module}.{name}': not part of an NVlabs network pickle (nothing in the "
                "file was executed)") from None


def is_network_pickle(head: bytes) -> bool:
    """Whether the pickle starting with ``head`` references NVIDIA's persistence
    or TensorFlow network globals (found by reading opcodes, nothing run)."""
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(head)):
            if op.name == "GLOBAL" and str(arg).split(" ")[0] in ("torch_utils.persistence", TF_NETWORK[0]):
                return True
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE") and arg in (
                    "torch_utils.persistence", TF_NETWORK[0]):
                return True
    except Exception:               # a truncated head, or not a pickle
        return False
    return False


def _state_dict(record: Persistent, allowed, prefix: str = "", what: str = "G_ema") -> Dict[str, np.ndarray]:
    if record.class_name in STYLEGAN3_CLASSES or "Alias-Free Generative Adversarial Networks" in record.module_src:
        raise CheckpointError(f"{what} is a StyleGAN3 network (it has a {record.class_name}); gbas-jax reads "
                              "StyleGAN2 networks only")
    if record.class_name not in allowed:
        raise CheckpointError(f"{what}: unknown class {record.class_name!r} at {prefix.rstrip('.') or 'the top'} "
                              f"(a StyleGAN2 has {', '.join(sorted(allowed))})")
    out: Dict[str, np.ndarray] = {}
    skip = set(record.state.get("_non_persistent_buffers_set") or ())
    for group in ("_parameters", "_buffers"):
        for k, v in (record.state.get(group) or {}).items():
            if v is None or k in skip:
                continue
            if not isinstance(v, np.ndarray):
                raise CheckpointError(f"{what}: {prefix}{k} is not a tensor")
            out[prefix + k] = v
    for k, child in (record.state.get("_modules") or {}).items():
        if child is None:
            continue
        if not isinstance(child, Persistent):
            raise CheckpointError(f"{what}: submodule {prefix}{k} is not a persistent network record")
        out.update(_state_dict(child, allowed, f"{prefix}{k}.", what))
    return out


def _kwargs(record: Persistent) -> dict:
    kw = record.state.get("_init_kwargs") or {}
    return _plain(kw) if isinstance(kw, dict) else {}


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def read_nvlabs(data: bytes) -> dict:
    """``{"generator", "generator_kwargs", "discriminator", "discriminator_kwargs",
    "skipped"}`` of an NVlabs network pickle (state dicts of numpy arrays; the
    discriminator ``None`` when the file has none)."""
    try:
        obj = _materialise(NVlabsUnpickler(io.BytesIO(data)).load())
    except CheckpointError:
        raise
    except (Exception, RecursionError) as e:
        raise CheckpointError(f"not a readable network pickle ({type(e).__name__}: "
                              f"{' '.join(str(e).split())[:100]})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("G_ema"), Persistent):
        top = sorted(map(str, obj))[:6] if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"a network pickle without a G_ema network (found {top})")
    g = obj["G_ema"]
    if g.class_name != "Generator":
        _state_dict(g, GENERATOR_CLASSES)          # a StyleGAN3 or unknown class: its own message
        raise CheckpointError(f"G_ema is a {g.class_name!r}, not a Generator")
    d: Optional[Persistent] = obj.get("D") if isinstance(obj.get("D"), Persistent) else None
    out = {"generator": _state_dict(g, GENERATOR_CLASSES), "generator_kwargs": _kwargs(g),
           "discriminator": _state_dict(d, DISCRIMINATOR_CLASSES, what="D") if d is not None else None,
           "discriminator_kwargs": _kwargs(d) if d is not None else None,
           "skipped": sorted(str(k) for k in obj if k not in ("G_ema", "D"))}
    return out


__all__ = ["EasyDict", "Persistent", "is_network_pickle", "read_nvlabs"]
