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
from gbas_jax.io.outputs import check_output_folder
from gbas_jax.models import registry

from . import layouts
from .layouts import LAYOUTS, detect
from . import rosinality, sequential, snapshot
from .nvlabs_pickle import is_network_pickle, read_nvlabs
from .torch_pickle import CheckpointError, Record, UnsafePickleError, load_pth

__all__ = ["convert", "read_checkpoint", "split_checkpoint", "find_checkpoint_networks", "detect", "LAYOUTS",
           "CheckpointError", "UnsafePickleError", "load_pth"]


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
    ``"zip"``, ``"legacy"`` or ``"safetensors"``.  Every failure is a
    :class:`CheckpointError` whose message starts with the path."""
    try:
        return _read_checkpoint(path)
    except CheckpointError as e:
        raise type(e)(f"{path}: {e}") from None


def _read_checkpoint(path):
    if not os.path.exists(path):
        raise CheckpointError("no such file")
    if not os.path.isfile(path):
        raise CheckpointError("not a file")
    try:
        size = os.path.getsize(path)
        container = _sniff(path)
    except OSError as e:
        raise CheckpointError(f"cannot be read ({e.strerror})") from None
    if size == 0:
        raise CheckpointError("empty file")
    if container == "legacy":
        with open(path, "rb") as f:
            head = f.read(1 << 16)
        if is_network_pickle(head):
            with open(path, "rb") as f:
                return read_nvlabs(f.read()), "nvlabs"
    if path.endswith(".safetensors") and container != "safetensors":
        raise CheckpointError("not a safetensors file (it has no safetensors header)")
    if container == "safetensors":
        from safetensors import SafetensorError
        from safetensors.numpy import load_file
        try:
            return dict(load_file(path)), container
        except (SafetensorError, ValueError, OSError, TypeError) as e:
            raise CheckpointError(f"damaged or truncated safetensors file ({' '.join(str(e).split())[:120]})") \
                from None
    try:
        return load_pth(path), container
    except OSError as e:
        raise CheckpointError(f"cannot be read ({e.strerror})") from None


def split_checkpoint(obj, weights: str = "auto", key: Optional[str] = None,
                     discriminator_key: Optional[str] = None) -> Tuple[dict, Optional[dict], Any, str]:
    """``(generator state dict, discriminator state dict or None, config, which)``.

    The networks are found by :func:`converters.snapshot.find_networks` (training
    snapshots, Lightning checkpoints, pytorch_GAN_zoo bundles, bare state dicts);
    ``which`` is the generator's path in the file.  ``weights``: for
    pytorch_GAN_zoo bundles, ``"avgG"`` (the moving-average generator, used for
    sampling), ``"netG"``, or ``"auto"`` (the moving average where there is one).
    """
    found = find_checkpoint_networks(obj, weights, key, discriminator_key)
    return found.generator, found.discriminator, found.config, found.generator_path or "state_dict"


def find_checkpoint_networks(obj, weights: str = "auto", key: Optional[str] = None,
                             discriminator_key: Optional[str] = None) -> snapshot.Found:
    """:func:`converters.snapshot.find_networks` with the layouts' detector and
    ``--weights`` (pytorch_GAN_zoo's ``avgG`` / ``netG``) as a key."""
    if weights not in ("auto", "avgG", "netG"):
        raise ValueError(f"weights must be 'auto', 'avgG' or 'netG', got {weights!r}")
    if key is None and weights != "auto" and isinstance(obj, dict) and (
            "netG" in obj or any(str(k).startswith("netG.") for k in obj)):
        key = weights
    return snapshot.find_networks(obj, key, discriminator_key, detect=detect)


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


AUTO = "auto"


def _stylegan2_options(kwargs: Optional[dict], conv_clamp, mapping_lr, what: str = "G_ema") -> dict:
    """``conv_clamp`` / ``mapping_lr``: given values win; ``"auto"`` takes the network
    pickle's constructor arguments (``kwargs``), else the peers' defaults (no clamp,
    0.01).  StyleGAN2 networks of the stylegan3 repository keep the synthesis
    settings at the top level of their arguments."""
    kwargs = kwargs or {}
    synth = kwargs.get("synthesis_kwargs") or kwargs
    if conv_clamp == AUTO:
        conv_clamp = synth.get("conv_clamp", kwargs.get("conv_clamp"))
    if mapping_lr == AUTO:
        mapping_lr = (kwargs.get("mapping_kwargs") or {}).get("lr_multiplier", 0.01)
    return {"conv_clamp": None if conv_clamp is None else float(conv_clamp), "mapping_lr": float(mapping_lr)}


def convert(src: str, out: str, *, format: Optional[str] = None, discriminator: Optional[str] = None,
            weights: str = "auto", output_clamp: bool = False, overwrite: bool = False,
            conv_clamp=AUTO, mapping_lr=AUTO, space: str = "z", noise_mode: str = "const",
            key: Optional[str] = None, discriminator_key: Optional[str] = None,
            condition_dims: int = 0, layers: Optional[str] = None, fused_scale: bool = False) -> dict:
    """Convert ``src`` into the model folder ``out``; returns a summary dict.

    Raises :class:`CheckpointError` (a ``ValueError``) naming the problem -- unknown
    layout, missing key, wrong shape, truncated file, refused pickle global --
    and then leaves no output folder behind.
    """
    t0 = time.perf_counter()
    if format is not None and format not in LAYOUTS:
        raise ValueError(f"format must be one of {LAYOUTS}, got {format!r}")
    if layers is not None and format is not None:
        raise ValueError("--layers and --format exclude each other (a layer list is its own layout)")
    out = check_output_folder(out, "model", overwrite, replace_same_job=False)
    layer_list = sequential.read_layer_list(layers) if layers is not None else None
    obj, container = read_checkpoint(src)
    gkw = dkw = None
    skipped = []
    dwhich = None
    ros = rosinality.split(obj) if container != "nvlabs" and layer_list is None else None
    if container == "nvlabs":
        gsd, dsd, config, which, layout = obj["generator"], obj["discriminator"], None, "G_ema", "stylegan2"
        gkw, dkw, skipped = obj["generator_kwargs"], obj["discriminator_kwargs"], obj["skipped"]
    elif ros is not None:
        gsd, dsd, config, which, layout = ros["generator"], ros["discriminator"], None, ros["taken"], "stylegan2"
        skipped = ros["skipped"]
    else:
        found = find_checkpoint_networks(obj, weights, key, discriminator_key)
        gsd, dsd, config = found.generator, found.discriminator, found.config
        which, dwhich, skipped = found.generator_path or "state_dict", found.discriminator_path, found.skipped
        layout = "sequential" if layer_list is not None else format or detect(gsd)
        if dsd is not None and discriminator_key is None and layout not in layouts.DISCRIMINATORS:
            # found by its name only: a layout without a discriminator converts without it
            skipped, dsd, dwhich = sorted(skipped + [dwhich]), None, None
    if format is not None and format != layout:
        raise CheckpointError(f"--format {format}: the file holds a {layout} network")
    sg2 = _stylegan2_options(gkw, conv_clamp, mapping_lr) if layout == "stylegan2" else {}
    if layout == "stylegan2" and gkw and (gkw.get("synthesis_kwargs") or {}).get("architecture"):
        arch = gkw["synthesis_kwargs"]["architecture"]
        found = registry_check_architecture(gsd)
        if arch != found:
            raise CheckpointError(f"G_ema: its arguments say architecture {arch!r}, its weights {found!r}")
    if discriminator is not None:
        dobj, _ = read_checkpoint(discriminator)
        dsd, dwhich = split_checkpoint(dobj)[0], None
    options = dict(output_clamp=output_clamp, space=space, noise_mode=noise_mode, fused_scale=fused_scale,
                   conv_clamp=sg2.get("conv_clamp"), mapping_lr=sg2.get("mapping_lr", 0.01))
    if layer_list is not None:
        gspec, gtree, gsrc = sequential.sequential_generator(layouts.strip_module(gsd), layer_list)
        if dsd is not None and discriminator is None and discriminator_key is None:
            skipped, dsd, dwhich = sorted(skipped + [dwhich]), None, None     # no discriminator layout
    else:
        gspec, gtree, gsrc = layouts.GENERATORS[layout](gsd, config,
                                                        **{k: options[k] for k in layouts.OPTIONS[layout]})
    if condition_dims:
        gspec, gtree = _with_condition(gspec, gtree, condition_dims)
    _check_shapes(gspec, gtree, gsrc, "generator")
    dspec = dtree = None
    if dsd is not None:
        if layout not in layouts.DISCRIMINATORS:
            raise CheckpointError(f"layout {layout!r} has no discriminator")
        dopts = _stylegan2_options(dkw, conv_clamp, AUTO) if layout == "stylegan2" else {}
        dspec, dtree, dsrc = layouts.DISCRIMINATORS[layout](
            dsd, config, **({"conv_clamp": dopts["conv_clamp"]} if layout == "stylegan2" else {}))
        _check_shapes(dspec, dtree, dsrc, "discriminator")
    t_read = time.perf_counter() - t0
    if isinstance(config, Record):
        config = config.as_dict()
    source = {"file": os.path.basename(src), "sha256": _sha256(src), "container": container,
              "layout": layout, "weights": which, "discriminator_weights": dwhich, "skipped": skipped,
              "discriminator_file": os.path.basename(discriminator) if discriminator else None,
              "config": {k: v for k, v in (config or {}).items() if _jsonable(v)}}
    save_model(out, generator_spec=gspec, generator_variables=gtree, discriminator_spec=dspec,
               discriminator_variables=dtree, extra={"source": source}, overwrite=True)   # checked above
    return {"output": os.path.abspath(out), "layout": layout, "container": container, "weights": which,
            "discriminator_weights": dwhich, "skipped": skipped,
            "generator": gspec, "discriminator": dspec, "read_s": round(t_read, 3),
            "total_s": round(time.perf_counter() - t0, 3)}


def _with_condition(spec: dict, tree: dict, dims: int) -> Tuple[dict, dict]:
    """A DCGAN spec and variables with the last ``dims`` input dimensions declared
    a one-hot label concatenated after ``z`` (the weights cannot say)."""
    if isinstance(dims, bool) or not isinstance(dims, int) or dims < 0:
        raise ValueError(f"--condition-dims must be an integer >= 0, got {dims!r}")
    if spec["type"] != "dcgan":
        what = "a StyleGAN2 declares its labels itself" if spec["type"] == "stylegan2" else f"not a {spec['type']}"
        raise CheckpointError(f"--condition-dims applies to DCGAN-family files ({what})")
    if dims >= spec["latent_dim"]:
        raise CheckpointError(f"--condition-dims {dims}: the first layer takes only {spec['latent_dim']} inputs "
                              "(the label must leave at least one free latent dimension)")
    spec = {**spec, "latent_dim": spec["latent_dim"] - dims, "condition": {"type": "one-hot-concat", "dims": dims}}
    return spec, {**tree, "view": {"label": np.zeros(dims, np.float32)}}


def _clamp(text: str):
    if text == AUTO:
        return AUTO
    if text.lower() == "none":
        return None
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither a number nor 'none'") from None
    if not v > 0:
        raise ValueError("the clamp must be > 0")
    return v


def registry_check_architecture(gsd) -> str:
    from .stylegan2 import generator_spec
    return generator_spec(gsd)["architecture"]


def add_arguments(ap) -> None:
    """The options of ``gbas-jax convert`` / ``python -m converters``."""
    ap.add_argument("input", help="the generator's checkpoint: .pth (zip or legacy torch.save) or .safetensors")
    ap.add_argument("output", help="the model folder to write (refused if it exists, unless --overwrite and it "
                                   "is a gbas-jax model folder)")
    ap.add_argument("--format", choices=LAYOUTS, help="the checkpoint's layout (default: detected from its keys)")
    ap.add_argument("--discriminator", metavar="FILE", help="a separate discriminator checkpoint (PyTorch-examples "
                                                          "DCGAN keeps netD in its own file)")
    ap.add_argument("--weights", default="auto", choices=("auto", "avgG", "netG"),
                    help="pytorch_GAN_zoo bundles: which generator to take (default auto = avgG, the moving "
                         "average, if present)")
    ap.add_argument("--key", metavar="NAME",
                    help="training snapshots: the generator's entry, by its path in the file (state_dict/generator) "
                         "or its last part (default: the moving-average generator, else the one named like a "
                         "generator; an ambiguous file lists its candidates)")
    ap.add_argument("--discriminator-key", metavar="NAME",
                    help="training snapshots: the discriminator's entry (default: the one named like a "
                         "discriminator, if any)")
    ap.add_argument("--layers", metavar="FILE",
                    help="a generator of any nn.Sequential stack: a JSON layer list naming its ops in order "
                         "(linear, reshape, conv, convtranspose, upsample, batchnorm, relu, leakyrelu, tanh, "
                         "dropout ...; docs/models.md), checked against the weights' shapes")
    ap.add_argument("--condition-dims", type=int, default=0, metavar="N",
                    help="a conditional DCGAN-family generator: its last N inputs are a one-hot label concatenated "
                         "after z (the weights cannot say; default 0). E-GBAS then runs with --label K over z only")
    ap.add_argument("--fused-scale", action="store_true",
                    help="a genforce PGGAN built with fused_scale=True (its up-sampling layers as transposed convs; "
                         "not stored in the file; default off, as the genforce model zoo)")
    ap.add_argument("--output-clamp", action="store_true",
                    help="GAN-dissection proggan: clamp the output to [-1, 1] as its output_tanh option does")
    ap.add_argument("--conv-clamp", type=_clamp, default=AUTO, metavar="X|none",
                    help="StyleGAN2: the synthesis layers' clamp (default: an NVlabs pickle's own setting, else "
                         "none; NVlabs' training configurations use 256)")
    ap.add_argument("--mapping-lr", type=lambda t: AUTO if t == AUTO else float(t), default=AUTO, metavar="X",
                    help="StyleGAN2: the mapping network's learning-rate multiplier (default: an NVlabs pickle's "
                         "own setting, else 0.01)")
    ap.add_argument("--space", choices=("z", "w"), default="z",
                    help="StyleGAN2: the model folder's default latent space (default z)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing gbas-jax model folder")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args) -> dict:
    """Run a parsed ``convert`` command; returns the summary."""
    return convert(args.input, args.output, format=args.format, discriminator=args.discriminator,
                   weights=args.weights, output_clamp=args.output_clamp, overwrite=args.overwrite,
                   conv_clamp=args.conv_clamp, mapping_lr=args.mapping_lr, space=args.space,
                   key=args.key, discriminator_key=args.discriminator_key, condition_dims=args.condition_dims,
                   layers=args.layers, fused_scale=args.fused_scale)


def summary(info: dict) -> str:
    """What was read, in a few lines."""
    g = info["generator"]
    size = g.get("image_size", g.get("resolution"))
    took = f"took {info['weights']}" + (f" and {info['discriminator_weights']}" if info.get("discriminator_weights")
                                         else "") + (f", skipped {', '.join(info['skipped'])}" if info.get("skipped")
                                                     else "")
    if g["type"] == "stylegan2":
        shape = (f"generator: stylegan2 ({g['architecture']}) {size}x{size}x{g['img_channels']}, z {g['z_dim']}, "
                 f"w {g['w_dim']}, labels {g['c_dim']}, mapping {g['mapping_layers']} layers, default space "
                 f"{g['space']}")
    elif g["type"] == "sequential":
        shape = (f"generator: sequential {size}x{size}x{g['channels']}, latent {g['latent_dim']}, "
                 f"{len(g['ops'])} ops, {sum(o['op'] in ('relu', 'leakyrelu') for o in g['ops'])} probe-able layers")
    else:
        shape = f"generator: {g['type']} {size}x{size}x{g['channels']}, latent {g['latent_dim']}, widths {g['widths']}"
        if g.get("condition"):
            shape += f", labels {g['condition']['dims']} (one-hot after z: run with --label K)"
    return "\n".join([
        f"read {info['layout']} ({info['container']} container) in {info['read_s']} s: {took}",
        shape,
        "discriminator: " + ("none" if info["discriminator"] is None else info["discriminator"]["type"]),
        "no recommended E-GBAS settings: gbas-jax uses the library defaults for this model (add "
        "\"recommended\" to its architecture.json, docs/models.md)"])


def wrote(info: dict) -> str:
    return (f"wrote {info['output']}/ (architecture.json, generator/"
            + (", discriminator/" if info["discriminator"] else "") + ")")


def main(argv=None, prog: str = "python -m converters") -> int:
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    add_arguments(ap)
    args = ap.parse_args(argv)
    try:
        info = run(args)
    except (CheckpointError, ValueError) as e:
        message = e.cli_message() if hasattr(e, "cli_message") else str(e)
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2
    print(json.dumps(info, indent=2) if args.json else summary(info))
    print(wrote(info))
    return 0
