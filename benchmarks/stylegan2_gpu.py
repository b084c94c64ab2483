"""A paper-scale StyleGAN2 on an accelerator: one ``egbas`` call per space and layer.

    python -m benchmarks stylegan2-gpu --out FILE.json
    python -m benchmarks stylegan2-gpu --resolution 32 --channel-max 32 --out F.json   # CPU dry run

(``python -m benchmarks.stylegan2_gpu ...`` still works: ``benchmarks/gpu.sh`` calls it so.)

The model: a 256x256 StyleGAN2 at config-f widths with random weights (NVlabs'
``channel_base`` 32768, ``channel_max`` 512: 512 channels up to 64x64, then 256 and
128; ``z_dim = w_dim = 512``, 8 mapping layers, ``skip`` generator, RGB), noise
strengths 0.1.  For each layer and space (Z, W): the first call (compilation
included), then ``--repeats`` calls timed after it, the library's default
``EGBASConfig`` at its default ``ber_precision`` (``"auto"``: TF32 matmuls and
convolutions in BerOpt on a GPU), and, at ``--float32-layer``, the same at
``ber_precision="float32"``.  Each row is written to the JSON file as it is made;
the file starts with the fields of :func:`benchmarks.common.record_header`.
"""

from __future__ import annotations

import argparse
import sys
import time

from .common import median_time, record_header, write_json
from .pggan_gpu import _record, _row, _timed, _versions


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks stylegan2-gpu", description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--channel-base", type=int, default=32768)
    ap.add_argument("--channel-max", type=int, default=512)
    ap.add_argument("--latent", type=int, default=512, help="z_dim = w_dim")
    ap.add_argument("--layers", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--spaces", nargs="+", default=["z", "w"], choices=("z", "w"))
    ap.add_argument("--float32-layer", type=int, default=8, help="also time ber_precision='float32' here (0: none)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--split", action="store_true", help="also time GB-RRT alone on each call's region")
    ap.add_argument("--out", required=True)
    return ap


def run(args) -> dict:
    """Every row, written to ``args.out`` as it is made."""
    import os

    import jax
    import numpy as np

    import gbas_jax as gb
    from gbas_jax.models import stylegan2 as sg

    header = record_header()
    t0 = time.perf_counter()
    base_gen = sg.stylegan2(key=jax.random.key(0), resolution=args.resolution, z_dim=args.latent,
                             w_dim=args.latent, mapping_layers=8, channel_base=args.channel_base,
                             channel_max=args.channel_max, img_channels=3)
    cfg = gb.EGBASConfig()
    rec = {**header, "what": "stylegan2 egbas", **_versions(header["machine"]), "resolution": args.resolution,
           "channels": [sg.channels(2 ** k, args.channel_base, args.channel_max)
                        for k in range(2, sg.log2_resolution(args.resolution) + 1)],
           "param_bytes": gb.generator_bytes(base_gen), "num_layers": base_gen.num_layers,
           "config": dict(cfg.__dict__), "argv": dict(vars(args), out=os.path.basename(args.out)), "runs": []}

    def save():
        rec["elapsed_s"] = time.perf_counter() - t0
        write_json(args.out, rec)

    save()
    views = {space: sg.stylegan2_view(base_gen, space=space) for space in args.spaces}
    for layer in args.layers:
        for space, gen in views.items():
            z0 = sg.latent_from_z(gen, np.asarray(jax.random.normal(jax.random.key(2), (args.latent,))))
            precisions = [cfg.ber_precision] + (["float32"] if layer == args.float32_layer else [])
            for prec in precisions:
                c = cfg.replace(ber_precision=prec)
                # the first call (compilation included), one untimed call, then the repeats timed
                first, times, res = _timed(lambda: gb.egbas(gen, z0, layer, c, key=jax.random.key(1)),
                                           args.repeats + 1)
                row = {"space": space, "first_s": first, **_row("egbas", layer, prec, times[1:], res)}
                if args.split:
                    # GB-RRT alone on the same region: the rest of a call is BerOpt
                    # (and the one host synchronisation between the stages)
                    _, rrt, _ = median_time(
                        lambda r: gb.gb_rrt(gen, z0, layer, res.indicator, c, key=jax.random.key(3)), args.repeats)
                    row["gb_rrt_median_s"] = float(rrt)
                _record(rec, row, save)
    return rec


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    rec = run(args)          # each row printed and written as it was made
    write_json(args.out, rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
