"""The genforce and InterFaceGAN PGGAN converters checked against the peers' own code.

    python -m benchmarks pggan-peers --genforce DIR --interfacegan DIR \\
        [--out benchmarks/results/pggan_peers.json]

(``python -m benchmarks.pggan_peers ...`` runs the same.)

``DIR`` are checkouts of genforce/genforce and genforce/interfacegan (both MIT).
``tests/test_genforce.py`` checks :mod:`converters` against the project's own
PyTorch mirror (:mod:`torch_mirror.genforce`); here the networks, the files and
the reference outputs come from the peers' modules (``models/pggan_generator.py``
and ``models/pggan_generator_model.py``, imported from their files alone): built
with random weights (biases too), saved as each saves them (genforce's model-zoo
dict ``{"generator", "discriminator", "generator_smooth"}`` with a real genforce
discriminator, InterFaceGAN's plain state dict), converted with
:func:`converters.convert`, and compared with gbas-jax on the converted folder:

* ``image``: the peer's image (NCHW to NHWC) against ``gen.generate``;
* ``layers``: every conv block's pre-activation against ``gen.boundary(z, l)``.
  The blocks end in a LeakyReLU(0.2), which is invertible: forward hooks record
  each block's output ``y`` and the pre-activation is ``y`` where ``y >= 0``, else
  ``y / 0.2`` (no edit of the peers' code);
* ``mirror_image``: the peer's state dict loaded into the project's mirror (what
  the fast tests use), against the peer's image.

Figures are ``max|a - b| / max|b|`` with ``b`` the peer's output.  Configurations:
genforce 32x32 unfused and fused (``fmaps_base`` 256, ``fmaps_max`` 32, z 32),
InterFaceGAN 16x16 (its channel table is fixed: 512 wide, z 512) unfused and fused.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import sys
import tempfile

import numpy as np

from .common import record_header, write_json
from .stylegan2_parity import git_info, nhwc, rel

TOLERANCE = 1e-4
PROG = "python -m benchmarks pggan-peers"
DEFAULT_OUT = "benchmarks/results/pggan_peers.json"


def _load_module(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _randomise(net, torch, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("lod"):
                continue
            p.copy_(torch.randn(p.shape, generator=g) * (0.1 if p.ndim == 1 else 1.0))


def _recorded(G, torch, blocks):
    pre = []

    def hook(mod, args, out):
        y = out.detach().clone()
        pre.append(torch.where(y >= 0, y, y / 0.2))

    handles = [getattr(G, b).register_forward_hook(hook) for b in blocks]
    return pre, handles


def _compare(folder, z, image, pre) -> dict:
    import jax.numpy as jnp

    import gbas_jax as gb
    gen = gb.load_pretrained(folder)
    zj = jnp.asarray(z)
    out = {"image": rel(gen.generate(zj), nhwc(image)),
           "layers": [rel(gen.boundary(zj, l), nhwc(a).reshape(len(z), -1)) for l, a in enumerate(pre, start=1)]}
    out["layers_max"] = max(out["layers"])
    return out


def _row(name, G, forward, layers, z, info, folder, mirror, torch) -> dict:
    """One configuration: the peer's image and pre-activations (``layers`` conv
    blocks, recorded by hooks) against gbas-jax's converted folder, and the
    project's mirror, loaded with the peer's state dict, against the peer."""
    pre, handles = _recorded(G, torch, [f"layer{m}" for m in range(layers)])
    with torch.no_grad():
        image = forward(torch.from_numpy(z))
    for h in handles:
        h.remove()
    row = {"name": name, "taken": info["weights"], "skipped": info["skipped"], "layout": info["layout"],
           **_compare(folder, z, image, pre)}
    mirror.load_state_dict(G.state_dict())
    with torch.no_grad():
        row["mirror_image"] = rel(mirror(torch.from_numpy(z)).numpy(), image.numpy())
    return row


def compare(genforce_dir: str, interfacegan_dir: str) -> list:
    """Every configuration of both peers: one row each (:func:`_row`)."""
    import torch

    import converters
    from torch_mirror.genforce import GenforcePGGAN, InterfaceganPGGAN
    results = []
    gf = _load_module(os.path.join(genforce_dir, "models", "pggan_generator.py"), "genforce_pggan_generator")
    gfd = _load_module(os.path.join(genforce_dir, "models", "pggan_discriminator.py"), "genforce_pggan_discriminator")
    ifg = _load_module(os.path.join(interfacegan_dir, "models", "pggan_generator_model.py"), "interfacegan_pggan")
    with tempfile.TemporaryDirectory() as tmp:
        for fused in (False, True):
            kw = dict(resolution=32, z_space_dim=32, image_channels=3, fmaps_base=256, fmaps_max=32)
            G = gf.PGGANGenerator(fused_scale=fused, **kw).eval()
            G_smooth = gf.PGGANGenerator(fused_scale=fused, **kw).eval()
            D = gfd.PGGANDiscriminator(resolution=32, image_channels=3, fmaps_base=256, fmaps_max=32)
            _randomise(G, torch, 1)
            _randomise(G_smooth, torch, 2)
            path = os.path.join(tmp, f"genforce_{fused}.pth")
            torch.save({"generator": G.state_dict(), "discriminator": D.state_dict(),
                        "generator_smooth": G_smooth.state_dict()}, path)
            folder = os.path.join(tmp, f"genforce_{fused}")
            info = converters.convert(path, folder, fused_scale=fused)
            z = np.random.default_rng(0).standard_normal((4, 32)).astype(np.float32)
            mirror = GenforcePGGAN(resolution=32, z_dim=32, fmaps_base=256, fmaps_max=32, fused_scale=fused)
            results.append(_row(f"genforce 32x32 {'fused' if fused else 'unfused'}, model-zoo dict", G_smooth,
                                lambda x: G_smooth(x)["image"], 8, z, info, folder, mirror, torch))
        for fused in (False, True):
            G = ifg.PGGANGeneratorModel(resolution=16, fused_scale=fused).eval()
            _randomise(G, torch, 3)
            path = os.path.join(tmp, f"interfacegan_{fused}.pth")
            torch.save(G.state_dict(), path)
            folder = os.path.join(tmp, f"interfacegan_{fused}")
            info = converters.convert(path, folder)
            z = np.random.default_rng(1).standard_normal((3, 512)).astype(np.float32)
            mirror = InterfaceganPGGAN(resolution=16, z_dim=512, fmaps_base=16384, fmaps_max=512, fused_scale=fused)
            results.append(_row(f"InterFaceGAN 16x16 {'fused' if fused else 'unfused'}, state dict", G, G, 6, z,
                                info, folder, mirror, torch))
    return results


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("--genforce", required=True, help="a checkout of genforce/genforce")
    ap.add_argument("--interfacegan", required=True, help="a checkout of genforce/interfacegan")
    ap.add_argument("--out", default=DEFAULT_OUT)
    return ap


def command(args) -> str:
    """The command line that gives ``args`` (``--out`` left out at its default)."""
    words = ["--genforce", args.genforce, "--interfacegan", args.interfacegan]
    return PROG + " " + shlex.join(words + ([] if args.out == DEFAULT_OUT else ["--out", args.out]))


def run(args) -> dict:
    """The record: every configuration's figures, the largest, the peers' commits,
    the versions and :func:`benchmarks.common.record_header`'s fields."""
    genforce_dir, interfacegan_dir = os.path.abspath(args.genforce), os.path.abspath(args.interfacegan)
    results = compare(genforce_dir, interfacegan_dir)
    header = record_header(command(args))
    m = header["machine"]
    worst = max(max(r["image"], r["layers_max"], r["mirror_image"]) for r in results)
    return {"command": header["command"], "tolerance": TOLERANCE, "max": worst, "passed": worst <= TOLERANCE,
            "results": results,
            "peers": {"genforce": git_info(genforce_dir, "genforce/genforce"),
                      "interfacegan": git_info(interfacegan_dir, "genforce/interfacegan")},
            "versions": {k: m[k] for k in ("torch", "jax", "python", "backend")},
            "git_commit": header["git_commit"], "machine": m}


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    data = run(args)
    write_json(args.out, data)
    for r in data["results"]:
        print(f"{r['name']}: image {r['image']:.1e}, layers {r['layers_max']:.1e}, mirror {r['mirror_image']:.1e}")
    print(f"max {data['max']:.1e} against {TOLERANCE:g}: {'passed' if data['passed'] else 'FAILED'}; "
          f"wrote {args.out}")
    return 0 if data["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
