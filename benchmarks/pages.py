"""Numbers in the docs, written from committed results files.

    python -m benchmarks pages            # rewrite every generated block
    python -m benchmarks pages --check    # exit 1 and name each block that differs

A page holds a generated block between two markers::

    <!-- generated: NAME (python -m benchmarks.pages) -->
    ...
    <!-- end generated: NAME -->

and :data:`BLOCKS` maps ``(page, NAME)`` to a function of the repository root that
returns the block's text from files under ``benchmarks/results/`` (or a shipped
model's record).  Nothing between the markers is written by hand: the test
``tests/test_pages.py`` regenerates every block and fails on any difference.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Callable, Dict, Tuple

import numpy as np

from .gpu_pages import BLOCKS as GPU_BLOCKS
from .suite_pages import BLOCKS as SUITE_BLOCKS

BEGIN = "<!-- generated: {name} (python -m benchmarks.pages) -->"
END = "<!-- end generated: {name} -->"


def _load(root, *parts):
    with open(os.path.join(root, *parts)) as f:
        return json.load(f)


def _e(x) -> str:
    """A relative difference, two significant figures."""
    return "n/a" if x is None else f"{x:.1e}"


def stylegan2_parity(root) -> str:
    d = _load(root, "benchmarks", "results", "stylegan2_parity.json")
    lines = ["| configuration | file | image | every layer's pre-activation (max) | image, truncated "
             "| D features (max) | D logits |",
             "|---|---|---|---|---|---|---|"]
    for r in d["results"]:
        m = r["max_rel_diff"]
        lines.append(f"| {r['name']} | {r['format']} | {_e(m['image'])} | {_e(m['layers_max'])} "
                     f"| {_e(m.get('image_truncated'))} | {_e(m.get('d_features_max'))} | {_e(m.get('d_logits'))} |")
    return "\n".join(lines) + _peers_footer(d, "stylegan2_parity.json")


def _peers_footer(d: dict, name: str) -> str:
    """The line under a parity table: the largest figure, the peers' commits, the command."""
    peers = "; ".join(f"{p['repository']} at {p['commit'][:8]}" for p in d["peers"].values())
    v = d["versions"]
    return (f"\n\nLargest figure {_e(d['max'])} against a tolerance of {d['tolerance']:g} "
            f"({'passed' if d['passed'] else 'FAILED'}); max|a - b| / max|b| with b the peer's output. "
            f"Peers: {peers}. Command: `{d['command']}` (torch {v['torch']}, jax {v['jax']}, {v['backend']}; "
            f"`benchmarks/results/{name}`).")


def stylegan2_gpu(root) -> str:
    folder = os.path.join("benchmarks", "results", "h200-stylegan2")
    # gpu.sh writes one stylegan2.json; the committed run wrote one file per space
    names = ["stylegan2.json"] if os.path.exists(os.path.join(root, folder, "stylegan2.json")) \
        else ["stylegan2_z.json", "stylegan2_w.json"]
    runs, meta = [], None
    for name in names:
        r = _load(root, folder, name)
        meta = meta or r
        runs += r["runs"]
    flops = {row["layer"]: row for row in _load(root, folder, "decode_flops.json")["rows"]
             if row["model"].startswith("stylegan2")}
    lines = ["| space | layer | kept units | BerOpt steps | GB-RRT iterations | first call, s | egbas, s (median of 3) "
             "| GFLOP per BerOpt step | BerOpt TFLOP/s, at least |",
             "|---|---|---|---|---|---|---|---|---|"]
    for run in sorted(runs, key=lambda r: (r["layer"], r["space"])):
        f = flops.get(run["layer"])
        step = f"{f['decode_and_grad_gflop']:.0f}" if f else "n/a"
        rate = f"{run['ber_steps'] * f['decode_and_grad_gflop'] / 1e3 / run['median_s']:.0f}" if f else "n/a"
        lines.append(f"| {run['space'].upper()} | {run['layer']} | {run['num_kept']:,} | {run['ber_steps']} "
                     f"| {run['iterations']} | {run['first_s']:.1f} | {run['median_s']:.2f} | {step} | {rate} |")
    return "\n".join(lines) + (
        f"\n\n{meta['device_kind']}, jax {meta['jax']}, `EGBASConfig()` at `ber_precision=\"{meta['config']['ber_precision']}\"`; "
        f"widths {meta['channels']} (4x4 to 256x256), {meta['param_bytes'] / 2**20:.0f} MiB of parameters. "
        f"`OUT=DIR STAGES=stylegan2 bash benchmarks/gpu.sh` (files in `{folder}/`); GFLOP per step from "
        "`python -m benchmarks.decode_flops` (XLA's cost analysis of the decode and its gradient); "
        "the TFLOP/s column is BerOpt's floating-point work over the whole call's time, a lower bound on its rate.")


def pggan_peers(root) -> str:
    d = _load(root, "benchmarks", "results", "pggan_peers.json")
    lines = ["| configuration | layout | taken | image | every layer's pre-activation (max) | mirror vs peer |",
             "|---|---|---|---|---|---|"]
    for r in d["results"]:
        lines.append(f"| {r['name']} | `{r['layout']}` | `{r['taken']}` | {_e(r['image'])} | {_e(r['layers_max'])} "
                     f"| {_e(r['mirror_image'])} |")
    return "\n".join(lines) + _peers_footer(d, "pggan_peers.json")


def _ms(x, digits=4) -> str:
    return f"{x['mean']:.{digits}f} ± {x['se']:.{digits}f}"


def _pm(x, digits=4) -> str:
    """A paired difference and its standard error, with the verdict's mark: bold when
    more than two standard errors from zero."""
    t = f"{x['mean']:+.{digits}f} ± {x['se']:.{digits}f}".replace("-", "−")
    return f"**{t}**" if abs(x["mean"]) > 2 * x["se"] else t


def reproduction(folder: str) -> Callable[[str], str]:
    """The tables and verdicts of one committed ``gbas-jax reproduce`` run."""
    def block(root) -> str:
        r = _load(root, folder, "results.json")
        layers = [str(x) for x in r["layers"]]
        S = r["summary"]
        methods = ("E-GBAS", "eps-L2", "eps-Linf")
        view = (f"space {r['space'].upper()}" if "space" in r else "") + (
            ", styles above the layer frozen (control view)" if r.get("frozen_styles") else "")
        out = [f"`{r.get('command', 'gbas-jax reproduce')}`: {r['queries']} queries (seed {r['seed']}), "
               f"{view}, {r['device']}, {r['seconds']:.0f} s (the run's own clock, compilation included). "
               f"Results: `{folder}/results.json`.", "",
               "**Table 1, image variation** (paired rows: E-GBAS minus the baseline over the same queries; "
               "bold = more than two standard errors from zero, negative = E-GBAS varies less):", "",
               "| method | " + " | ".join(f"layer {l}" for l in layers) + " |", "|---|" + "---|" * len(layers)]
        for m in methods:
            out.append(f"| {m} | " + " | ".join(_ms(S[l]["methods"][m]["image_variation"]) for l in layers) + " |")
        for b in ("eps-L2", "eps-Linf"):
            out.append(f"| paired vs {b} | " + " | ".join(_pm(S[l]["variation_difference_vs"][b])
                                                         for l in layers) + " |")
        if "discriminator_similarity" in S[layers[0]]["methods"]["E-GBAS"]:
            nb = len(S[layers[0]]["methods"]["E-GBAS"]["discriminator_similarity"])
            blocks = " / ".join(str(k + 1) for k in range(nb))
            out += ["", f"**Table 2, discriminator similarity** (D blocks {blocks}; higher = closer to the query; "
                        "paired: E-GBAS minus the baseline, positive = E-GBAS closer):", "",
                    "| layer | E-GBAS | eps-L2 | eps-Linf | paired vs eps-L2 | paired vs eps-Linf |",
                    "|---|---|---|---|---|---|"]
            for l in layers:
                cells = [" / ".join(f"{x['mean']:.4f}" for x in S[l]["methods"][m]["discriminator_similarity"])
                         for m in methods]
                pairs = [" / ".join(_pm(x) for x in S[l]["similarity_difference_vs"][b]) for b in ("eps-L2", "eps-Linf")]
                out.append(f"| {l} | " + " | ".join(cells + pairs) + " |")
        out += ["", "| layer | kept boundaries | BerOpt steps | relaxed NRS E-GBAS / L2 / Linf | GB-RRT acceptance "
                    "| Monte Carlo acceptance | trees not full |", "|---|---|---|---|---|---|---|"]
        for l in layers:
            s = S[l]
            rows = r["per_query"][l]
            steps = sorted(q["ber_steps"] for q in rows) if "ber_steps" in rows[0] else None
            rel = " / ".join(f"{s['methods'][m]['nrs_relaxed']['mean']:.3f}" for m in methods)
            out.append(f"| {l} | {s['num_kept']['mean']:.0f} | "
                       + (f"{steps[0]}-{steps[-1]}" if steps else "n/a")
                       + f" | {rel} | {_ms(s['egbas_acceptance'], 3)} | {_ms(s['mc_acceptance'], 3)} "
                         f"| {s['incomplete_trees']} of {len(rows)} |")
        return "\n".join(out)
    return block


#: The StyleGAN2 reproductions whose results are committed (docs/reproduction.md).
REPRODUCTIONS = ("z", "w", "w-frozen")


def stylegan2_spaces(root) -> str:
    """The three StyleGAN2 reproductions side by side: region sizes and variation."""
    runs = [(v, _load(root, "benchmarks", "results", "reproduce", f"stylegan2-mnist-{v}", "results.json"))
            for v in REPRODUCTIONS]
    names = {"z": "Z", "w": "W", "w-frozen": "W, styles above frozen"}
    lines = ["| layer | view | kept boundaries | calibrated eps-L2 radius | E-GBAS image variation "
             "| eps-L2 image variation | GB-RRT acceptance | Monte Carlo acceptance |",
             "|---|---|---|---|---|---|---|---|"]
    for layer in [str(x) for x in runs[0][1]["layers"]]:
        for v, r in runs:
            S, rows = r["summary"][layer], r["per_query"][layer]
            eps = np.array([q["eps_l2"] for q in rows])
            lines.append(f"| {layer} | {names[v]} | {S['num_kept']['mean']:.0f} | {eps.mean():.2f} ± "
                         f"{eps.std(ddof=1) / np.sqrt(len(eps)):.2f} | {_ms(S['methods']['E-GBAS']['image_variation'])} "
                         f"| {_ms(S['methods']['eps-L2']['image_variation'])} | {_ms(S['egbas_acceptance'], 3)} "
                         f"| {_ms(S['mc_acceptance'], 3)} |")
    return "\n".join(lines) + ("\n\nMean ± standard error over the 10 queries of each run; the radius is in "
                               "the view's own latent coordinates (Z: N(0, I); W: u = (w - mu) / sigma, also unit "
                               "variance per dimension). From the three `results.json` files above.")


def stylegan2_boundaries(root) -> str:
    """What the kept units of the shipped StyleGAN2 hold, from three sample records."""
    lines = ["| layer | layer shape | kept boundaries | channels with a kept unit | image MSE, kept units only "
             "| image MSE, dropped units only | samples | command |", "|---|---|---|---|---|---|---|---|"]
    for layer in (2, 4, 6):
        folder = os.path.join("benchmarks", "results", "stylegan2-mnist-boundaries", f"w-layer{layer}")
        r = _load(root, folder, "record.json")
        c = r["counts"]
        chans = sum(1 for k in r["kept_per_channel"] if k)
        lines.append(f"| {layer} | {' x '.join(map(str, r['layer_shape']))} | {c['kept_boundaries']:,} of "
                     f"{c['units']:,} | {chans} of {len(r['kept_per_channel'])} | {r['held']['kept_error']:.4f} "
                     f"| {r['held']['dropped_error']:.4f} | {c['samples']} | `gbas-jax sample --model "
                     f"{r['model']} --space {r['space']} --layer {layer} --seed {r['seed']}` |")
    return "\n".join(lines) + ("\n\nRecords: `benchmarks/results/stylegan2-mnist-boundaries/w-layerL/record.json` "
                               f"({r['device']}).")


def channel_units(model: str) -> Callable[[str], str]:
    """BerOpt in channel and element mode at equal kept fraction, and the channel-mode
    reproduction (GB-RRT acceptance, Table 1), for one model."""
    def block(root) -> str:
        d = _load(root, "benchmarks", "results", "channel_units", f"{model}.json")
        r = _load(root, "benchmarks", "results", "channel_units", f"{model}-reproduce", "results.json")
        lines = ["| layer | element mode: lambda -> kept fraction, kept-unit MSE | channel mode: lambda -> kept "
                 "fraction, kept-unit MSE | at equal kept fraction: channel / element MSE |", "|---|---|---|---|"]
        for layer, s in d["summary"].items():
            el = "; ".join(f"{c['lambda']:g} -> {c['kept_fraction']:.3f}, {c['kept_error']:.4f}" for c in s["element"])
            ch = "; ".join(f"{c['lambda']:g} -> {c['kept_fraction']:.3f}, {c['kept_error']:.4f}" for c in s["channel"])
            m = "; ".join(f"{x['kept_fraction']:.3f}: {x['channel_error']:.4f} / {x['element_error']:.4f} "
                          f"({x['ratio']:.0f}x)" for x in s["matched"]) or "no channel point inside the element range"
            lines.append(f"| {layer} | {el} | {ch} | {m} |")
        S = r["summary"]
        lines += ["", f"Channel mode end to end (`{r['command']}`; {r['queries']} queries, {r['device']}, "
                      f"{r['seconds']:.0f} s):", "",
                  "| layer | kept boundaries (units of kept channels) | GB-RRT acceptance | trees not full "
                  "| image variation E-GBAS / eps-L2 / eps-Linf | paired vs eps-L2 | paired vs eps-Linf |",
                  "|---|---|---|---|---|---|---|"]
        for l in [str(x) for x in r["layers"]]:
            v = " / ".join(f"{S[l]['methods'][m]['image_variation']['mean']:.4f}" for m in ("E-GBAS", "eps-L2", "eps-Linf"))
            lines.append(f"| {l} | {S[l]['num_kept']['mean']:.0f} | {_ms(S[l]['egbas_acceptance'], 3)} "
                         f"| {S[l]['incomplete_trees']} of {len(r['per_query'][l])} | {v} "
                         f"| {_pm(S[l]['variation_difference_vs']['eps-L2'])} "
                         f"| {_pm(S[l]['variation_difference_vs']['eps-Linf'])} |")
        return "\n".join(lines) + (f"\n\nBerOpt sweep: `{d['command']}` ({d['queries']} queries per point, "
                                   f"{d['device']}, {d['seconds']:.0f} s; `benchmarks/results/channel_units/"
                                   f"{model}.json`); kept fraction and MSE are means over the queries.")
    return block


def beropt_downstream(root) -> str:
    """Today's ``gbas-jax sample`` on dcgan-mnist layer 2 against the first version's
    (the H100 run's printed summary)."""
    r = _load(root, "benchmarks", "results", "sample-dcgan-mnist", "record.json")
    c = r["counts"]
    with open(os.path.join(root, "benchmarks", "results", "h100_sample_cli.txt")) as f:
        old = re.search(r"kept boundaries (\d+)/(\d+) .*acceptance ([0-9.]+)", f.read())
    return (f"`gbas-jax sample` (`dcgan-mnist`, layer {r['layer']}, seed {r['seed']}, the defaults; {r['device']}): "
            f"BerOpt keeps {c['kept_boundaries']:,} of {c['units']:,} boundaries and GB-RRT accepts "
            f"{100 * c['acceptance_rate']:.1f} % of its proposals (`benchmarks/results/sample-dcgan-mnist/record.json`); "
            f"with the first version's BerOpt it kept {int(old.group(1)):,} and accepted {100 * float(old.group(3)):.0f} % "
            f"(`benchmarks/results/h100_sample_cli.txt`, the H100 run of Nov 26).")


def _folder_bytes(path) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def stylegan2_mnist_training(root) -> str:
    folder = os.path.join("gbas_jax", "pretrained", "stylegan2-mnist")
    t = _load(root, folder, "architecture.json")["training"]
    c = t["config"]
    g = _load(root, folder, "architecture.json")["generator"]
    final = ", ".join(f"{k} {v:.3f}" for k, v in t["final"].items())
    return (f"`{t['command']}` on {t['device']}: {c['steps']:,} steps of batch {c['batch_size']} "
            f"({c['steps'] * c['batch_size']:,} images) in {t['seconds']:,.0f} s ({t['seconds'] / 60:.1f} min), seed "
            f"{c['seed']}; Adam {c['lr']} / ({c['beta1']}, {c['beta2']}), R1 gamma {c['r1_gamma']} every "
            f"{c['r1_every']} steps, EMA {c['ema']}; z / w {g['z_dim']} / {g['w_dim']}, mapping {g['mapping_layers']} "
            f"layers, channel base / max {g['channel_base']} / {g['channel_max']}, discriminator "
            f"{c['d_channel_base']} / {c['d_channel_max']}. Final losses: {final}. The folder: "
            f"{_folder_bytes(os.path.join(root, folder)) / 1e6:.1f} MB (`{folder}/architecture.json` holds the "
            "whole training record, the losses every 50 steps included).")


BLOCKS: Dict[Tuple[str, str], Callable[[str], str]] = {
    ("docs/models.md", "stylegan2-parity"): stylegan2_parity,
    ("docs/models.md", "pggan-peers"): pggan_peers,
    ("docs/performance.md", "stylegan2-gpu"): stylegan2_gpu,
    **{("docs/performance.md", name): fn for name, fn in {**SUITE_BLOCKS, **GPU_BLOCKS}.items()},
    ("docs/beropt.md", "downstream"): beropt_downstream,
    ("docs/models.md", "stylegan2-mnist-training"): stylegan2_mnist_training,
    **{("docs/reproduction.md", f"stylegan2-mnist-{v}"): reproduction(f"benchmarks/results/reproduce/stylegan2-mnist-{v}")
       for v in REPRODUCTIONS},
    ("docs/reproduction.md", "stylegan2-mnist-spaces"): stylegan2_spaces,
    ("docs/reproduction.md", "stylegan2-mnist-boundaries"): stylegan2_boundaries,
    **{("docs/beropt.md", f"channel-units-{m}"): channel_units(m) for m in ("dcgan-mnist", "pggan-mnist")},
}


def _span(text: str, name: str):
    b, e = BEGIN.format(name=name), END.format(name=name)
    m = re.search(re.escape(b) + r"\n(.*?)" + re.escape(e), text, flags=re.S)
    if m is None:
        raise ValueError(f"no generated block {name!r} (markers {b!r} ... {e!r})")
    return m.start(1), m.end(1)


def render(root: str) -> Dict[str, Tuple[str, str]]:
    """``{page: (current text, regenerated text)}`` for every page with a block."""
    pages: Dict[str, Tuple[str, str]] = {}
    for (page, name), fn in BLOCKS.items():
        path = os.path.join(root, page)
        if page not in pages:
            with open(path) as f:
                text = f.read()
            pages[page] = (text, text)
        old, new = pages[page]
        s, e = _span(new, name)
        pages[page] = (old, new[:s] + fn(root).rstrip("\n") + "\n" + new[e:])
    return pages


def differing(root: str):
    """The ``(page, block)`` pairs whose committed text differs from the regenerated one."""
    out = []
    for (page, name), fn in BLOCKS.items():
        with open(os.path.join(root, page)) as f:
            text = f.read()
        s, e = _span(text, name)
        if text[s:e] != fn(root).rstrip("\n") + "\n":
            out.append((page, name))
    return out


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks pages", description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if a block differs")
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.check:
        bad = differing(args.root)
        for page, name in bad:
            print(f"{page}: block {name!r} differs from its results (python -m benchmarks.pages rewrites it)")
        return 1 if bad else 0
    for page, (old, new) in render(args.root).items():
        if new != old:
            with open(os.path.join(args.root, page), "w") as f:
                f.write(new)
            print(f"rewrote {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
