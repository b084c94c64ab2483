"""Convert PyTorch generator checkpoints (.pth, zip or legacy, and safetensors)
into gbas-jax model folders (orbax checkpoint + ``architecture.json``).

    python -m converters INPUT OUTPUT_DIR [--format LAYOUT] [--discriminator FILE]
    gbas-jax convert INPUT OUTPUT_DIR ...          # the same command

Layouts (:data:`layouts.LAYOUTS`), detected from the key names unless
``--format`` says: ``pggan-zoo`` (pytorch_GAN_zoo / torch.hub PGAN: a dict with
``config``, ``netG``, ``netD``, ``avgG``, or a bare ``netG`` state dict),
``pggan-dissect`` (GAN-dissection ``proggan``), ``dcgan-examples`` (PyTorch
examples, ``main.N``; its discriminator is a separate file: ``--discriminator``)
and ``dcgan-wgan`` (Wasserstein GAN ``DCGAN_G`` / ``DCGAN_D``).  No file is
unpickled with torch: :mod:`converters.torch_pickle` whitelists what may be
loaded and executes nothing.  The output folder is written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any, Optional, Tuple

import jax
import numpy as np

from gbas_jax.io.checkpoint import save_model
from gbas_jax.models import registry

from . import layouts
from .layouts import LAYOUTS, detect
from .torch_pickle import CheckpointError, Record, UnsafePickleError, load_pth

__all__ = ["convert", "read_checkpoint", "split_checkpoint", "detect", "LAYOUTS", "CheckpointError",
           "UnsafePickleError", "load_pth"]


def _sniff(path: str) -> str:
    with open(path, "rb") as f:
        head = f.read(9)
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if len(head) == 9 and head[8:9] == b"{":
        return "safetensors"
    return "legacy"


def read_checkpoint(path: str) -> Tuple[Any, str]:
    """``(object, container)``: the stored object (tensors as numpy arrays) and
    ``"zip"``, ``"legacy"`` or ``"safetensors"``."""
    if not os.path.isfile(path):
        raise CheckpointError(f"no such file: {path}")
    container = _sniff(path)
    if container == "safetensors":
        from safetensors import SafetensorError
        from safetensors.numpy import load_file
        try:
            return dict(load_file(path)), container
        except (SafetensorError, ValueError, OSError) as e:
            raise CheckpointError(f"damaged or truncated safetensors file ({e})") from None
    return load_pth(path), container


def _is_state_dict(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(v, np.ndarray) for v in obj.values())


def _prefixed(sd: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def split_checkpoint(obj, weights: str = "auto") -> Tuple[dict, Optional[dict], Any, str]:
    """``(generator state dict, discriminator state dict or None, config, which)``.

    ``weights``: for pytorch_GAN_zoo bundles, ``"avgG"`` (the moving-average
    generator, used for sampling), ``"netG"``, or ``"auto"`` (avgG if present).
    """
    if weights not in ("auto", "avgG", "netG"):
        raise ValueError(f"weights must be 'auto', 'avgG' or 'netG', got {weights!r}")
    if isinstance(obj, dict) and "netG" in obj:
        which = "avgG" if weights == "auto" and "avgG" in obj else ("netG" if weights == "auto" else weights)
        if which not in obj:
            raise CheckpointError(f"checkpoint has no {which!r} entry")
        return obj[which], obj.get("netD"), obj.get("config"), which
    if _is_state_dict(obj) and any(k.startswith("netG.") for k in obj):   # flattened bundle (safetensors)
        which = "avgG" if weights in ("auto", "avgG") and any(k.startswith("avgG.") for k in obj) else "netG"
        disc = _prefixed(obj, "netD.") or None
        return _prefixed(obj, which + "."), disc, None, which
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        return obj["state_dict"], None, obj.get("config"), "state_dict"
    if _is_state_dict(obj):
        return obj, None, None, "state_dict"
    top = sorted(obj)[:6] if isinstance(obj, dict) else type(obj).__name__
    raise CheckpointError(f"unrecognised checkpoint contents: {top}")


def _check_shapes(spec, tree, sources, what):
    module = (registry.generator_module if what == "generator" else registry.discriminator_module)(spec)
    want = jax.tree_util.tree_flatten_with_path(
        registry.abstract_variables(module, registry.example_input(spec, what)))[0]
    have = {tuple(p.key for p in path): leaf for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}
    for path, leaf in want:
        path = tuple(p.key for p in path)
        if path not in have:
            raise CheckpointError(f"{what}: no weight for {'/'.join(path)}")
        if tuple(have[path].shape) != tuple(leaf.shape):
            raise CheckpointError(f"{what}: {sources.get(path, '/'.join(path))!r} gives shape "
                                  f"{tuple(have[path].shape)} for {'/'.join(path)}, expected {tuple(leaf.shape)}")
    if len(have) != len(want):
        extra = sorted(set(have) - {tuple(p.key for p in path) for path, _ in want})
        raise CheckpointError(f"{what}: unexpected weight {'/'.join(extra[0])}")


def _jsonable(v) -> bool:
    scalar = (int, float, str, bool, type(None))
    return isinstance(v, scalar) or (isinstance(v, (list, tuple)) and all(isinstance(x, scalar) for x in v))


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def convert(src: str, out: str, *, format: Optional[str] = None, discriminator: Optional[str] = None,
            weights: str = "auto", output_clamp: bool = False, overwrite: bool = False) -> dict:
    """Convert ``src`` into the model folder ``out``; returns a summary dict.

    Raises :class:`CheckpointError` (a ``ValueError``) naming the problem -- unknown
    layout, missing key, wrong shape, truncated file, refused pickle global --
    and then leaves no output folder behind.
    """
    t0 = time.perf_counter()
    if format is not None and format not in LAYOUTS:
        raise ValueError(f"format must be one of {LAYOUTS}, got {format!r}")
    if os.path.exists(out) and not overwrite:
        raise ValueError(f"{out} exists (pass overwrite=True / --overwrite)")
    obj, container = read_checkpoint(src)
    gsd, dsd, config, which = split_checkpoint(obj, weights)
    layout = format or detect(gsd)
    if discriminator is not None:
        dobj, _ = read_checkpoint(discriminator)
        dsd = split_checkpoint(dobj)[0]
    gspec, gtree, gsrc = layouts.GENERATORS[layout](gsd, config, output_clamp=output_clamp)
    _check_shapes(gspec, gtree, gsrc, "generator")
    dspec = dtree = None
    if dsd is not None:
        if layout not in layouts.DISCRIMINATORS:
            raise CheckpointError(f"layout {layout!r} has no discriminator")
        dspec, dtree, dsrc = layouts.DISCRIMINATORS[layout](dsd, config)
        _check_shapes(dspec, dtree, dsrc, "discriminator")
    t_read = time.perf_counter() - t0
    if isinstance(config, Record):
        config = config.as_dict()
    source = {"file": os.path.basename(src), "sha256": _sha256(src), "container": container,
              "layout": layout, "weights": which,
              "discriminator_file": os.path.basename(discriminator) if discriminator else None,
              "config": {k: v for k, v in (config or {}).items() if _jsonable(v)}}
    save_model(out, generator_spec=gspec, generator_variables=gtree, discriminator_spec=dspec,
               discriminator_variables=dtree, extra={"source": source}, overwrite=overwrite)
    return {"output": os.path.abspath(out), "layout": layout, "container": container, "weights": which,
            "generator": gspec, "discriminator": dspec, "read_s": round(t_read, 3),
            "total_s": round(time.perf_counter() - t0, 3)}


def main(argv=None) -> int:
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m converters", description=__doc__.splitlines()[0])
    ap.add_argument("input", help=".pth (zip or legacy) or .safetensors checkpoint of the generator")
    ap.add_argument("output", help="model folder to write (must not exist unless --overwrite)")
    ap.add_argument("--format", choices=LAYOUTS, help="force a layout instead of detecting it")
    ap.add_argument("--discriminator", metavar="FILE", help="separate discriminator checkpoint")
    ap.add_argument("--weights", default="auto", choices=("auto", "avgG", "netG"),
                    help="pytorch_GAN_zoo: which generator (auto = avgG if present)")
    ap.add_argument("--output-clamp", action="store_true", help="proggan: clamp outputs to [-1, 1] (output_tanh)")
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    try:
        info = convert(args.input, args.output, format=args.format, discriminator=args.discriminator,
                       weights=args.weights, output_clamp=args.output_clamp, overwrite=args.overwrite)
    except (CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(info, indent=2))
    return 0
