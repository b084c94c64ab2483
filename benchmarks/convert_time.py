"""Wall time of ``converters.convert`` on a full-width 256x256 PGGAN with random
weights (pytorch_GAN_zoo layout, also the GAN-dissection layout), and of loading
the converted folder.  Needs torch (to write the input file).

    python -m benchmarks.convert_time [--resolution 256] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time

from .common import write_json


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    import jax
    import numpy as np
    import torch

    from torch_mirror import layouts as tm

    import converters
    import gbas_jax as gb
    from gbas_jax.models.pggan import default_widths

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
            t0 = time.perf_counter()
            info = converters.convert(src, out)
            t_convert = time.perf_counter() - t0
            t0 = time.perf_counter()
            gen = gb.load_pretrained(out)
            jax.block_until_ready(gen.params)
            t_load = time.perf_counter() - t0
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
    result = {"machine": platform.node(), "processor": platform.processor() or platform.machine(),
              "cpus": os.cpu_count(), "jax": jax.__version__, "torch": torch.__version__, "records": records}
    if args.out:
        write_json(args.out, result, indent=2)
    return result


if __name__ == "__main__":
    main()
