"""Floating-point work of one BerOpt step, from XLA's cost analysis (device-independent):
``decode`` from layer l to the image and its gradient with respect to the layer's
units, per model and layer, at batch 1.  A step of BerOpt is one such pair.

    python -m benchmarks decode-flops --out FILE.json   # or: python -m benchmarks.decode_flops

The models: the 256x256 config-f-width StyleGAN2 of ``benchmarks.stylegan2_gpu`` (W
space) and the full-width 256x256 PGGAN of ``benchmarks.pggan_gpu``, random weights.
Compiles on the CPU (a few minutes on 2 cores); runs nothing.  The file starts
with the fields of :func:`benchmarks.common.record_header`; each row is written as
it is made.
"""

from __future__ import annotations

import argparse
import sys

from .common import record_header, write_json


def _flops(fn, x):
    import jax
    c = jax.jit(fn).lower(x).compile().cost_analysis()
    return float((c[0] if isinstance(c, list) else c)["flops"])


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks decode-flops", description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    return ap


def run(args) -> dict:
    """Every row, printed and written to ``args.out`` as it is made."""
    import jax
    import jax.numpy as jnp

    import gbas_jax as gb
    from gbas_jax.models import stylegan2 as sg

    sgen = sg.stylegan2(key=jax.random.key(0), resolution=256, z_dim=512, w_dim=512, mapping_layers=8,
                        channel_base=32768, channel_max=512, img_channels=3, w_statistics_samples=100)
    pgen = gb.models.pggan(key=jax.random.key(0), latent_dim=512, resolution=256, max_width=512, bias_scale=0.1)
    rec = {**record_header(), "what": "GFLOP of decode (layer l -> image) and of its gradient, batch 1", "rows": []}
    for name, gen, layers in (("stylegan2-256-config-f (W)", sg.stylegan2_view(sgen, space="w"), (4, 8)),
                              ("pggan-256", pgen, (2, 4, 6))):
        z = jnp.zeros((1, gen.latent_dim))
        for layer in layers:
            h = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype),
                                       jax.eval_shape(lambda z: gen.features(z, layer), z))

            def decode(h, layer=layer, gen=gen):
                return jnp.sum(gen.decode(h, layer))

            row = {"model": name, "layer": layer, "decode_gflop": _flops(decode, h) / 1e9,
                   "decode_and_grad_gflop": _flops(jax.grad(decode), h) / 1e9}
            rec["rows"].append(row)
            print(row, flush=True)
            write_json(args.out, rec)
    return rec


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    write_json(args.out, run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
