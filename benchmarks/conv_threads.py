"""How many cores each library's convolutions use: the layers that GB-RRT's
membership test runs below and at the losing sweep points, one batch of K = 32
candidates, XLA (as gbas-jax's layers call it) and PyTorch (channels-last, as
``batched_torch``), each with the whole CPU and pinned to one core.

    python -m benchmarks conv-threads [--out benchmarks/results/cpu/conv_threads]

Each (library, cores) pair runs in its own process, pinned before the library
starts its thread pool; medians of 30 calls after 3 warm-up calls.  Writes
``OUT.json`` and ``OUT.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from .common import record_header, timed, write_json, write_text

PROG = "python -m benchmarks conv-threads"
BATCH = 32
#: (where it runs, kind, input size, C_in, C_out): the DCGANs' layers 2-4 and the
#: 64x64 PGGAN's (benchmark widths) layers 2-4
SHAPES = [
    ("dcgan-mnist layer 2 (prefix of 3, 4)", "transpose", 7, 64, 32),
    ("dcgan-mnist layers 3, 4 (prefix of 4)", "conv3", 14, 32, 32),
    ("dcgan64 layer 2 (prefix of 3, 4)", "transpose", 4, 512, 256),
    ("dcgan64 layer 3 (prefix of 4)", "transpose", 8, 256, 128),
    ("dcgan64 layer 4", "transpose", 16, 128, 64),
    ("pggan64 layer 2 (prefix of 3, 4)", "conv3", 4, 128, 128),
    ("pggan64 layer 3, x2 upsampling (prefix of 4)", "upsample", 4, 128, 128),
    ("pggan64 layer 4", "conv3", 8, 128, 128),
]
REPEATS = 30


def macs(kind, n, cin, cout):
    # a transposed 4x4 / 2 conv and an upsampling 3x3 one (sub-pixel): 4 taps per output; a 3x3 conv: 9
    return BATCH * (2 * n) ** 2 * 4 * cin * cout if kind in ("transpose", "upsample") else BATCH * n * n * 9 * cin * cout


def _median(fn, sync):
    """The middle of ``REPEATS`` timed calls (the upper one of the two middle
    calls: ``REPEATS`` is even) after 3 warm-up calls, the last of them
    :func:`~benchmarks.common.timed`'s first call."""
    for _ in range(2):
        sync(fn())
    _, times, _ = timed(lambda r: sync(fn()), REPEATS)
    return sorted(times)[len(times) // 2]


def child(lib: str, cores: int) -> dict:
    if cores == 1:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import numpy as np
    rng = np.random.default_rng(0)
    out = {}
    if lib == "xla":
        import jax
        from gbas_jax.runtime.compiler import jit
        from gbas_jax.models.ops import conv2d, conv_transpose, upsample_conv
        jax.config.update("jax_default_matmul_precision", "highest")
        fns = {"transpose": lambda x, k: conv_transpose(x, k, 2, 1), "upsample": upsample_conv,
               "conv3": lambda x, k: conv2d(x, k, (1, 1), ((1, 1), (1, 1)), (1, 1))}
        for name, kind, n, cin, cout in SHAPES:
            x = jax.numpy.asarray(rng.standard_normal((BATCH, n, n, cin)), jax.numpy.float32)
            size = 4 if kind == "transpose" else 3
            k = jax.numpy.asarray(rng.standard_normal((size, size, cin, cout)), jax.numpy.float32)
            f = jit(fns[kind])      # the library's compiler options
            out[name] = _median(lambda: f(x, k), jax.block_until_ready)
    else:
        import torch
        torch.set_num_threads(cores if cores == 1 else os.cpu_count())
        with torch.inference_mode():
            for name, kind, n, cin, cout in SHAPES:
                m = (torch.nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False) if kind == "transpose"
                     else torch.nn.Conv2d(cin, cout, 3, 1, 1, bias=False)).to(memory_format=torch.channels_last)
                x = torch.randn(BATCH, cin, n, n).to(memory_format=torch.channels_last)
                if kind == "upsample":    # as TorchPGGAN: interpolate, then convolve
                    out[name] = _median(lambda: m(torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")),
                                        lambda y: y)
                else:
                    out[name] = _median(lambda: m(x), lambda y: y)
    return out


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="path prefix for .json and .md")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    return ap


def run(args) -> dict:
    """The record: each (library, cores) pair measured in its own process
    (:func:`child`), then the common header, ``cores``, ``batch``, ``jax``,
    ``torch`` and one row per shape."""
    cores = len(os.sched_getaffinity(0))
    runs = {}
    for lib in ("xla", "torch"):
        for c in (cores, 1):
            r = subprocess.run([sys.executable, "-m", "benchmarks.conv_threads", "--child", lib, str(c)],
                               capture_output=True, text=True, check=True)
            runs[f"{lib}_{c}"] = json.loads(r.stdout.strip().splitlines()[-1])
            print(lib, c, runs[f"{lib}_{c}"], flush=True)
    header = record_header(PROG)
    rows = []
    for name, kind, n, cin, cout in SHAPES:
        row = dict(layer=name, kind=kind, input=f"{BATCH}x{n}x{n}x{cin}", c_out=cout, macs=macs(kind, n, cin, cout))
        for key, r in runs.items():
            row[key + "_us"] = r[name] * 1e6
        row["xla_speedup_from_cores"] = runs["xla_1"][name] / runs[f"xla_{cores}"][name]
        row["torch_speedup_from_cores"] = runs["torch_1"][name] / runs[f"torch_{cores}"][name]
        row["xla_over_torch_1core"] = runs["xla_1"][name] / runs["torch_1"][name]
        row["xla_over_torch_all"] = runs[f"xla_{cores}"][name] / runs[f"torch_{cores}"][name]
        rows.append(row)
    mach = header["machine"]
    return {**header, "cores": cores, "batch": BATCH, "jax": mach["jax"], "torch": mach["torch"], "rows": rows}


def report(rec) -> str:
    """The markdown table of a record (:func:`run`)."""
    cores, rows = rec["cores"], rec["rows"]
    cols = ["layer", "input", "c_out", f"xla_{cores}_us", "xla_1_us", f"torch_{cores}_us", "torch_1_us",
            "xla_speedup_from_cores", "torch_speedup_from_cores"]
    md = [f"Convolutions of one batch of {BATCH} ({cores} cores; jax {rec['jax']}, torch {rec['torch']}; "
          "medians of 30 calls, microseconds)", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        md.append("| " + " | ".join(f"{row[c]:.3g}" if isinstance(row[c], float) else str(row[c]) for c in cols) + " |")
    return "\n".join(md) + "\n"


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]))))
        return 0
    out = run(args)
    text = report(out)
    print(text)
    if args.out:
        write_json(args.out + ".json", out)
        write_text(args.out + ".md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
