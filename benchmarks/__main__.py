"""``python -m benchmarks [STUDY] [ARGS]``: one entry for every study.

Without a study name (or with ``compare``) it runs the comparison of gbas-jax with
the PyTorch references (:mod:`benchmarks.compare`).  Each study is a module with
``parser()``, ``run(args) -> record`` and ``main(argv)``; its timing, machine
record and file writing come from :mod:`benchmarks.common`, and every study runs
with glibc's malloc thresholds fixed (:func:`benchmarks.common.steady_malloc`).  ``python -m
benchmarks list`` names them; ``python -m benchmarks STUDY --help`` explains one.
"""

from __future__ import annotations

import importlib
import sys

#: Study name -> module of this package.
STUDIES = {
    "compare": "compare",                       # gbas-jax against the PyTorch references, sweeps
    "below-one": "below_one",                   # where the time goes where gbas-jax is behind
    "beropt": "beropt_study",                   # BerOpt's convergence: J*, sweeps, criteria
    "channel-units": "channel_units",           # BerOpt with one variable per channel
    "compile-cache": "compile_cache",           # cold and warm runs of the CLI
    "conv-grad-in-loop": "conv_grad_in_loop",   # a convolution's gradient inside a loop (GPU)
    "conv-threads": "conv_threads",             # XLA and PyTorch convolutions, 1 and 2 cores
    "convert-time": "convert_time",             # converting and loading checkpoints
    "decode-flops": "decode_flops",             # XLA's cost analysis of a StyleGAN2 decode
    "kept-crossover": "kept_crossover",         # where the kept-unit path beats the full layer
    "pggan-gpu": "pggan_gpu",                   # a paper-scale PGGAN on a GPU
    "pggan-peers": "pggan_peers",               # the genforce / InterFaceGAN PGGANs against their code
    "recommend": "recommend",                   # settings per model and layer
    "report-screenshot": "report_screenshot",   # the README's report picture
    "sharding": "sharding",                     # egbas_batch over several host devices
    "stylegan2-gpu": "stylegan2_gpu",           # a 256x256 StyleGAN2 on a GPU
    "stylegan2-parity": "stylegan2_parity",     # the StyleGAN2 converters against NVlabs / rosinality
    "time-egbas": "time_egbas",                 # one egbas call, compile and run
    "pages": "pages",                           # rewrite / check the generated blocks of the docs
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "list":
        width = max(map(len, STUDIES))
        for name, mod in STUDIES.items():
            doc = (importlib.import_module(f"benchmarks.{mod}").__doc__ or "").strip().splitlines()
            print(f"{name:<{width}}  {doc[0] if doc else ''}")
        return 0
    name = argv[0] if argv and not argv[0].startswith("-") else "compare"
    if name not in STUDIES:
        print(f"python -m benchmarks: unknown study {name!r}; known: {', '.join(STUDIES)}", file=sys.stderr)
        return 2
    rest = argv[1:] if argv and argv[0] == name else argv
    from .common import steady_malloc
    steady_malloc()             # before any study allocates: the same allocator state for every timing
    return importlib.import_module(f"benchmarks.{STUDIES[name]}").main(rest) or 0


if __name__ == "__main__":
    sys.exit(main())
