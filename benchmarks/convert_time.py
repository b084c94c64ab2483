"""Wall time of ``converters.convert`` on a full-width 256x256 PGGAN with random
weights (pytorch_GAN_zoo layout, also the GAN-dissection layout), and of loading
the converted folder.  Needs torch (to write the input file).

    python -m benchmarks convert-time [--resolution 256] [--out FILE.json]

(``python -m benchmarks.convert_time ...`` runs the same.)  The record starts with
:func:`benchmarks.common.record_header` (``command``, ``git_commit``, ``machine``);
``processor``, ``cpus``, ``jax`` and ``torch`` repeat the machine's fields.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile

from .common import record_header, timed, write_json

PROG = "python -m benchmarks convert-time"


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--out", default=None)
    return ap


def command(args) -> str:
    """The command line that gives ``args`` (options at their defaults left out)."""
    words = [] if args.resolution == 256 else ["--resolution", str(args.resolution)]
    words += [] if args.out is None else ["--out", args.out]
    return " ".join([PROG] + ([shlex.join(words)] if words else []))


def run(args) -> dict:
    """Convert and load each layout once; the record (one entry per layout in ``records``)."""
    import numpy as np
    import torch

    from torch_mirror import layouts as tm

    import converters
    import gbas_jax as gb
    from gbas_jax.models.pggan import default_widths

    def load(folder):
        gen = gb.load_pretrained(folder)
        return gen, gen.params          # waited for: the parameters on the device

    widths = list(default_widths(args.resolution))
    records = []
    tmp = tempfile.mkdtemp()
    try:
        for layout in ("pggan-zoo", "pggan-dissect"):
            torch.manual_seed(0)
            if layout == "pggan-zoo":
                G = tm.ZooGNet(512, widths)
                obj = {"netG": G.state_dict(), "avgG": G.state_dict()}
            else:
                G = tm.DissectGenerator([512] + widths)
                obj = G.state_dict()
            src = os.path.join(tmp, f"{layout}.pth")
            torch.save(obj, src)
            size_mb = os.path.getsize(src) / 2 ** 20
            out = os.path.join(tmp, layout)
            t_convert, _, info = timed(lambda _: converters.convert(src, out), 0)       # one call
            t_load, _, (gen, _) = timed(lambda _: load(out), 0)                        # one call
            z = np.random.default_rng(0).standard_normal((2, 512)).astype(np.float32)
            with torch.no_grad():
                ref = G(torch.from_numpy(z)).numpy().transpose(0, 2, 3, 1)
            err = float(np.abs(np.asarray(gen.generate(z)) - ref).max() / np.abs(ref).max())
            rec = {"layout": layout, "resolution": args.resolution, "widths": widths, "file_mb": round(size_mb, 1),
                   "convert_s": round(t_convert, 2), "read_s": info["read_s"], "load_s": round(t_load, 2),
                   "image_rel_err": err}
            print(json.dumps(rec))
            records.append(rec)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    header = record_header(command(args))
    m = header["machine"]
    return {**header, "processor": m["processor"], "cpus": m["cpus"], "jax": m["jax"], "torch": m["torch"],
            "records": records}


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    result = run(args)
    if args.out:
        write_json(args.out, result, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
