"""``gbas-jax report`` / ``--report``: the HTML page rendered by a real headless
browser (Debian's chromium, installed by .ci/run) shows the record's numbers and
references only files that exist; hostile names are escaped; foreign folders are
refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.parse
from html.parser import HTMLParser

import pytest

from gbas_jax.apps import report_page
from gbas_jax.cli import main
from gbas_jax.io.checkpoint import open_model
from gbas_jax.io.outputs import OutputError

from conftest import CLI_FAST

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


class _DOM(HTMLParser):
    """Text by element id, image sources, every tag seen."""

    def __init__(self):
        super().__init__()
        self.ids, self.imgs, self.tags, self._open = {}, [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "img":
            self.imgs.append(a.get("src"))
        if "id" in a:
            self._open.append([a["id"], ""])

    def handle_endtag(self, tag):
        if tag == "td" and self._open:
            k, v = self._open.pop()
            self.ids[k] = v.strip()

    def handle_data(self, data):
        for entry in self._open:
            entry[1] += data


def _rendered(index: str) -> _DOM:
    """The DOM chromium builds from the page (``--dump-dom``), parsed."""
    url = "file://" + urllib.parse.quote(os.path.abspath(index))
    r = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "<html" in r.stdout, r.stderr[-2000:]
    dom = _DOM()
    dom.feed(r.stdout)
    return dom


def _assert_images_exist(folder, dom):
    assert dom.imgs
    for src in dom.imgs:
        assert os.path.isfile(os.path.join(folder, urllib.parse.unquote(src))), src


@pytest.mark.slow
@pytest.mark.parametrize("model,layer", [("dcgan-mnist", 2), ("pggan-mnist", 4)])
def test_sample_report_in_a_browser(tmp_path, model, layer):
    if BROWSER is None:
        pytest.skip("no chromium: Debian's chromium package is not installed here (.ci/run installs it)")
    out = tmp_path / "s"
    assert main(["sample", "--model", model, "--layer", str(layer), "--report", "--out", str(out), *CLI_FAST]) == 0
    for name in ("theta.npy", "indicator.npy", "boundaries.png", "samples.png", "index.html"):
        assert (out / name).is_file(), name
    rec = json.loads((out / "record.json").read_text())
    dom = _rendered(str(out / "index.html"))
    assert dom.ids["kept"] == str(rec["counts"]["kept_boundaries"])
    assert dom.ids["samples"] == str(rec["counts"]["samples"])
    for method, m in rec["metrics"].items():
        assert float(dom.ids[f"variation-{method}"]) == pytest.approx(m["image_variation"], abs=5e-5)
    _assert_images_exist(str(out), dom)
    assert not any(tag == "script" for tag, _ in dom.tags)


@pytest.mark.slow
def test_reproduce_report_in_a_browser(tmp_path):
    if BROWSER is None:
        pytest.skip("no chromium: Debian's chromium package is not installed here (.ci/run installs it)")
    out = tmp_path / "r"
    assert main(["reproduce", "--quick", "--report", "--out", str(out), "--no-progress"]) in (0, 3)
    res = json.loads((out / "results.json").read_text())
    dom = _rendered(str(out / "index.html"))
    for layer in res["layers"]:
        s = res["summary"][str(layer)]
        assert dom.ids[f"kept-{layer}"] == f"{s['num_kept']['mean']:.0f}"
        v = s["methods"]["E-GBAS"]["image_variation"]
        assert dom.ids[f"variation-E-GBAS-{layer}"] == f"{v['mean']:.4f} ± {v['se']:.4f}"
        assert (out / f"layer{layer}" / "boundaries.png").is_file()
        assert f"layer{layer}/boundaries.png" in dom.imgs
    assert {"figure6.png", "figure7.png", "figure4.png"} <= set(dom.imgs)
    _assert_images_exist(str(out), dom)


@pytest.mark.fast
def test_hostile_names_are_escaped(tmp_path):
    out = tmp_path / 'a<b&c"d'
    assert main(["sample", "--layer", "1", "--out", str(out), *CLI_FAST]) == 0
    rec = json.loads((out / "record.json").read_text())
    rec["model"] = '<img src=x onerror="alert(1)">&amp;<script>alert(2)</script>'
    (out / "record.json").write_text(json.dumps(rec))
    text = open(report_page.write_report(str(out))).read()
    dom = _DOM()
    dom.feed(text)
    assert not any(tag == "script" for tag, _ in dom.tags)
    assert [src for src in dom.imgs if src == "x"] == []
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;amp;&lt;script&gt;" in text
    assert "a&lt;b&amp;c&quot;d" in text
    if BROWSER is not None:                      # the browser agrees: the name is text, not markup
        rendered = _rendered(str(out / "index.html"))
        assert not any(tag == "script" for tag, _ in rendered.tags)
        assert "x" not in rendered.imgs


@pytest.mark.fast
def test_foreign_folders_refused(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="was not written by gbas-jax"):
        report_page.write_report(str(tmp_path / "mine"))
    assert sorted(os.listdir(tmp_path / "mine")) == ["notes.txt"]
    with pytest.raises(OutputError, match="holds the output of 'gbas-jax model'"):
        report_page.write_report(open_model("dcgan-mnist").path)
    assert main(["report", str(tmp_path / "nowhere")]) == 2

