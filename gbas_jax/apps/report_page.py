"""``gbas-jax report FOLDER``: one offline HTML page (``index.html``) for a folder
that ``gbas-jax sample`` or ``gbas-jax reproduce`` wrote.

The page is plain HTML and CSS written here (no script, no network, no CDN): its
pictures are the folder's own PNG files, referenced by relative paths, so the
folder can be copied or zipped whole.  Every value from a record goes through
:func:`html.escape`, so a model or folder name with ``<`` or ``&`` is shown, not
interpreted.  The numbers the tests read back carry ``id`` attributes
(``kept``, ``samples``, ``variation-E-GBAS`` ...).  The page is added to the
finished folder atomically (a temporary file renamed); a folder no gbas-jax
``sample`` / ``reproduce`` wrote is refused as ``--out`` refuses.
"""

from __future__ import annotations

import html
import json
import os
from typing import Iterable, List, Optional, Sequence

from ..io.atomic import atomic_file
from ..io.outputs import OutputError, written_by
from .evaluation import METHODS
from .markdown_report import verdicts

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1180px;
 color:#1b1b1b;line-height:1.45;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
h3{font-size:1.05rem} .sub{color:#555;margin-top:0}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem} th,td{border:1px solid #ccc;padding:.25rem .55rem;
 text-align:right} th{background:#f3f3f3} td.l,th.l{text-align:left}
img{max-width:100%;border:1px solid #eee;margin:.4rem 0} .verdict{background:#f6faf6;border-left:4px solid #4a4;
 padding:.4rem .8rem;margin:.4rem 0} .bad{background:#fdf5f5;border-left-color:#c44}
code{background:#f4f4f4;padding:0 .2rem} .files li{font-family:monospace;font-size:.85rem}
"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], ids: Optional[List[List[Optional[str]]]] = None,
           left: int = 1) -> str:
    """An HTML table; cells are escaped; ``ids[r][c]`` gives a cell an id."""
    out = ["<table><thead><tr>" + "".join(f'<th class="{"l" if i < left else ""}">{_e(h)}</th>'
                                          for i, h in enumerate(head)) + "</tr></thead><tbody>"]
    for r, row in enumerate(rows):
        cells = []
        for c, v in enumerate(row):
            cid = ids[r][c] if ids and r < len(ids) and c < len(ids[r]) else None
            attrs = (f' id="{_e(cid)}"' if cid else "") + (' class="l"' if c < left else "")
            cells.append(f"<td{attrs}>{_e(v)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _img(folder: str, name: str, alt: str) -> str:
    if not os.path.isfile(os.path.join(folder, name)):
        return ""
    return f'<img src="{_e(name)}" alt="{_e(alt)}">'


def _page(title: str, body: List[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_e(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _files(folder: str) -> str:
    names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
    return "<ul class=\"files\">" + "".join(f'<li><a href="{_e(n)}">{_e(n)}</a></li>' for n in names) + "</ul>"


def _settings(config: dict, sources: dict) -> str:
    rows = [(k, v, sources.get(k, "library default")) for k, v in config.items()]
    return _table(["setting", "value", "from"], rows, left=1)


def _view(r: dict) -> str:
    parts = [f"space {r['space'].upper()}"] if r.get("space") else []
    parts += [f"label {r['label']}"] if r.get("label") is not None else []
    parts += ["styles above the layer frozen (control view)"] if r.get("frozen_styles") else []
    return ", ".join(parts)


def sample_page(folder: str, r: dict) -> str:
    c = r["counts"]
    view = _view(r)
    title = f"E-GBAS sample: {r['model']}, layer {r['layer']}"
    body = [f"<h1>{_e(title)}</h1>",
            f"<p class=\"sub\">seed {_e(r['seed'])}{', ' + _e(view) if view else ''}; folder "
            f"<code>{_e(os.path.basename(os.path.abspath(folder)))}</code>; device {_e(r.get('device', '?'))}</p>",
            "<h2>What BerOpt kept</h2>",
            _table(["", "value"], [
                ("kept boundaries", c["kept_boundaries"]), ("units of the layer", c["units"]),
                ("layer shape", " x ".join(map(str, r.get("layer_shape", [])))),
                ("BerOpt steps", f"{c['ber_steps']} ({'converged' if c['ber_converged'] else 'NOT converged'})"),
                ("objective J", f"{r['ber_objective']:.5f}"), ("kept-unit error (MSE)", f"{r['kept_error']:.5f}")]
                + ([("image MSE, dropped units only", f"{r['held']['dropped_error']:.5f}")] if "held" in r else []),
                ids=[[None, "kept"], [None, "units"]]),
            _img(folder, "boundaries.png", "where the kept units are, per channel, and what they hold"),
            "<h2>Samples</h2>",
            _table(["", "value"], [
                ("E-GBAS samples (the query included)", c["samples"]), ("proposals", c["proposals"]),
                ("acceptance", f"{c['acceptance_rate']:.3f}"), ("rejected", c["rejected"]),
                ("GB-RRT iterations", c["rrt_iterations"]), ("stop", c["stop_reason"]),
                ("calibrated eps-L2", f"{r['calibration']['eps_l2']:.4f}"),
                ("calibrated eps-Linf", f"{r['calibration']['eps_linf']:.4f}")], ids=[[None, "samples"]]),
            _img(folder, "samples.png", "E-GBAS and epsilon-ball samples of the query"),
            "<h2>Metrics</h2>"]
    rows, ids = [], []
    for name, m in r["metrics"].items():
        ds = " / ".join(f"{v:.3f}" for v in m.get("discriminator_similarity", [])) or "n/a"
        rows.append((name, f"{m['image_variation']:.4f}", f"{m['nrs_full']:.3f}", f"{m['nrs_relaxed']:.3f}", ds))
        ids.append([None, f"variation-{name}"])
    body.append(_table(["method", "image variation", "NRS full", "relaxed NRS", "D similarity per block"], rows,
                       ids=ids))
    problems = r.get("problems") or []
    if problems:
        body.append("<h2>Problems</h2><ul>" + "".join(f"<li>{_e(p.get('message', p))}</li>" for p in problems)
                    + "</ul>")
    body += ["<h2>Settings</h2>", _settings(r["config"], r.get("config_sources", {})),
             "<h2>Files</h2>", _files(folder)]
    return _page(title, body)


def _ms(x, d=4) -> str:
    return f"{x['mean']:.{d}f} ± {x['se']:.{d}f}"


def reproduce_page(folder: str, r: dict) -> str:
    layers = [str(x) for x in r["layers"]]
    S = r["summary"]
    view = _view(r)
    title = f"E-GBAS reproduction: {r['model']}"
    body = [f"<h1>{_e(title)}</h1>",
            f"<p class=\"sub\">{_e(r['queries'])} queries (seed {_e(r['seed'])}), layers {_e(', '.join(layers))}"
            f"{', ' + _e(view) if view else ''}; {_e(r['device'])}, {_e(r['seconds'])} s"
            + (f"; <code>{_e(r['command'])}</code>" if r.get("command") else "") + "</p>",
            "<h2>Do the paper's claims hold here?</h2>"]
    for l, v in zip(layers, verdicts(r)):
        ok = S[l]["egbas_lowest_variation"] and all(S[l].get("egbas_highest_similarity_per_block", [True]))
        body.append(f'<p class="verdict{"" if ok else " bad"}" id="verdict-{_e(l)}">{_e(v)}</p>')
    body.append("<h2>Table 1: image variation</h2><p>Per-pixel standard deviation of the samples' images "
                "(lower = more consistent); paired rows: E-GBAS minus the baseline over the same queries.</p>")
    rows = [[m] + [_ms(S[l]["methods"][m]["image_variation"]) for l in layers] for m in METHODS]
    rows += [[f"paired vs {b}"] + [_ms(S[l]["variation_difference_vs"][b]) for l in layers]
             for b in ("eps-L2", "eps-Linf")]
    ids = [[None] + [f"variation-{m}-{l}" for l in layers] for m in METHODS]
    body.append(_table(["method"] + [f"layer {l}" for l in layers], rows, ids=ids))
    if "discriminator_similarity" in S[layers[0]]["methods"]["E-GBAS"]:
        body.append("<h2>Table 2: discriminator similarity</h2><p>Mean cosine similarity to the query's "
                    "discriminator features per block (higher = closer); paired: E-GBAS minus the baseline.</p>")
        rows = []
        for l in layers:
            cells = [" / ".join(f"{x['mean']:.4f}" for x in S[l]["methods"][m]["discriminator_similarity"])
                     for m in METHODS]
            pairs = [" / ".join(_ms(x) for x in S[l]["similarity_difference_vs"][b]) for b in ("eps-L2", "eps-Linf")] \
                if "similarity_difference_vs" in S[l] else ["n/a", "n/a"]
            rows.append([l] + cells + pairs)
        body.append(_table(["layer", *METHODS, "paired vs eps-L2", "paired vs eps-Linf"], rows))
    rows = [[l, f"{S[l]['num_kept']['mean']:.0f}", " / ".join(f"{S[l]['methods'][m]['nrs_relaxed']['mean']:.3f}"
                                                               for m in METHODS),
             _ms(S[l]["egbas_acceptance"], 3), _ms(S[l]["mc_acceptance"], 3),
             f"{S[l]['incomplete_trees']} of {len(r['per_query'][l])}"] for l in layers]
    body += ["<h2>BerOpt and GB-RRT</h2>",
             _table(["layer", "kept boundaries (mean)", "relaxed NRS E-GBAS / L2 / Linf", "GB-RRT acceptance",
                     "Monte Carlo acceptance", "trees not full"], rows,
                    ids=[[None, f"kept-{l}"] for l in layers])]
    for l in layers:
        shape = r.get("layer_shapes", {}).get(l)
        body += [f"<h3>Layer {_e(l)}" + (f" ({_e(' x '.join(map(str, shape)))})" if shape else "") + "</h3>",
                 _img(folder, f"layer{l}/boundaries.png", f"the kept boundaries of layer {l}, first query")]
    body += ["<h2>Figures</h2>", "<p>Figure 7: the query, epsilon-L2 samples and E-GBAS samples (first queries, "
             "each layer).</p>", _img(folder, "figure7.png", "Figure 7"),
             "<p>Figure 6: per query, the per-pixel standard deviation of its E-GBAS samples at each layer.</p>",
             _img(folder, "figure6.png", "Figure 6")]
    if os.path.isfile(os.path.join(folder, "figure4.png")):
        body += ["<p>Figure 4: the 2-D model's tree, its rejected candidates and the calibrated balls.</p>",
                 _img(folder, "figure4.png", "Figure 4")]
    body += ["<h2>Settings</h2>", _settings(r["config"], r.get("config_sources", {})),
             "<h2>Files</h2>", _files(folder)]
    return _page(title, body)


def write_report(folder: str) -> str:
    """Write ``FOLDER/index.html``; returns its path.  ``OutputError`` for a folder
    that no gbas-jax ``sample`` or ``reproduce`` wrote."""
    if not os.path.isdir(folder):
        raise OutputError(folder, "is not a folder")
    job = written_by(folder)
    if job not in ("sample", "reproduce"):
        what = "was not written by gbas-jax" if job is None else f"holds the output of 'gbas-jax {job}'"
        raise OutputError(folder, f"{what}; a report is written into a folder of gbas-jax sample or reproduce")
    name = "record.json" if job == "sample" else "results.json"
    with open(os.path.join(folder, name)) as f:
        record = json.load(f)
    text = sample_page(folder, record) if job == "sample" else reproduce_page(folder, record)
    path = os.path.join(folder, "index.html")
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    return path


__all__ = ["write_report", "sample_page", "reproduce_page"]
