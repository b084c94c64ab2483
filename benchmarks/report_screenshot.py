"""The README's report screenshot, taken with the same headless browser as the tests.

    python -m benchmarks report-screenshot [--out docs/report.png]

(``python -m benchmarks.report_screenshot ...`` runs the same.)  Runs ``gbas-jax
sample --model dcgan-mnist --layer 2 --report`` (the shipped default model at its
recommended settings) into a temporary folder, then has Debian's ``chromium
--headless`` render its ``index.html`` to a PNG.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

from .common import record_header

PROG = "python -m benchmarks report-screenshot"
DEFAULT_OUT = "docs/report.png"
DEFAULT_SIZE = "1100,1500"


class Failed(Exception):
    """The screenshot could not be taken: ``message`` (``None``: already said) and the exit status."""

    def __init__(self, message, rc: int):
        super().__init__(message)
        self.message, self.rc = message, rc


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--size", default=DEFAULT_SIZE, help=f"the browser window, WIDTH,HEIGHT (default {DEFAULT_SIZE})")
    return ap


def command(args) -> str:
    """The command line that gives ``args`` (options at their defaults left out)."""
    words = ([] if args.out == DEFAULT_OUT else ["--out", args.out]) + \
        ([] if args.size == DEFAULT_SIZE else ["--size", args.size])
    return " ".join([PROG] + ([shlex.join(words)] if words else []))


def run(args) -> dict:
    """Take the screenshot into ``args.out``; the record: what was written and where.
    Raises :class:`Failed` when there is no chromium or the sample run fails."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise Failed("no chromium: apt-get install -y chromium", 2)
    from gbas_jax.cli import main as gbas
    sample = ["sample", "--model", "dcgan-mnist", "--layer", "2", "--report", "--no-progress"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "sample")
        rc = gbas(sample + ["--out", folder])
        if rc != 0:
            raise Failed(None, rc)
        url = "file://" + urllib.parse.quote(os.path.join(folder, "index.html"))
        shot = os.path.join(tmp, "shot.png")
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--window-size={args.size}", f"--screenshot={shot}", url],
                       check=True, capture_output=True, timeout=120)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        shutil.copyfile(shot, args.out)
    return {**record_header(command(args)), "out": args.out, "bytes": os.path.getsize(args.out),
            "window_size": args.size, "browser": browser, "sample": "gbas-jax " + shlex.join(sample)}


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        record = run(args)
    except Failed as e:
        if e.message:
            print(e.message, file=sys.stderr)
        return e.rc
    print(f"wrote {record['out']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
