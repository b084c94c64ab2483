"""The README's report screenshot, taken with the same headless browser as the tests.

    python -m benchmarks.report_screenshot [--out docs/report.png]

Runs ``gbas-jax sample --model dcgan-mnist --layer 2 --report`` (the shipped default
model at its recommended settings) into a temporary folder, then has Debian's
``chromium --headless`` render its ``index.html`` to a PNG.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.report_screenshot", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/report.png")
    ap.add_argument("--size", default="1100,1500", help="the browser window, WIDTH,HEIGHT (default 1100,1500)")
    args = ap.parse_args(argv)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("no chromium: apt-get install -y chromium", file=sys.stderr)
        return 2
    from gbas_jax.cli import main as gbas
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "sample")
        rc = gbas(["sample", "--model", "dcgan-mnist", "--layer", "2", "--report", "--no-progress", "--out", folder])
        if rc != 0:
            return rc
        url = "file://" + urllib.parse.quote(os.path.join(folder, "index.html"))
        shot = os.path.join(tmp, "shot.png")
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--window-size={args.size}", f"--screenshot={shot}", url],
                       check=True, capture_output=True, timeout=120)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        shutil.copyfile(shot, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
