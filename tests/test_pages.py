"""benchmarks/pages.py: every generated block of the docs equals what its committed
results files give, and a number edited by hand is caught."""

import os
import re
import shutil

import pytest

from benchmarks import pages

pytestmark = pytest.mark.fast

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_docs_match_their_results():
    assert pages.differing(ROOT) == []


def _copy(tmp_path):
    for page in {p for p, _ in pages.BLOCKS}:
        os.makedirs(tmp_path / os.path.dirname(page), exist_ok=True)
        shutil.copy(os.path.join(ROOT, page), tmp_path / page)
    shutil.copytree(os.path.join(ROOT, "benchmarks", "results"), tmp_path / "benchmarks" / "results")
    # a shipped model's record (and its size) is the source of its training block
    shutil.copytree(os.path.join(ROOT, "gbas_jax", "pretrained", "stylegan2-mnist"),
                    tmp_path / "gbas_jax" / "pretrained" / "stylegan2-mnist")
    return str(tmp_path)


@pytest.mark.parametrize("page,name", sorted(pages.BLOCKS))
def test_a_number_edited_by_hand_is_caught_and_rewritten(tmp_path, capsys, page, name):
    root = _copy(tmp_path)
    path = os.path.join(root, page)
    text = open(path).read()
    s, e = pages._span(text, name)
    block = text[s:e]
    m = re.search(r"\d\.\d", block)
    assert m, "the block holds no number"
    digit = block[m.start()]
    edited = block[:m.start()] + str((int(digit) + 1) % 10) + block[m.start() + 1:]
    open(path, "w").write(text[:s] + edited + text[e:])
    assert pages.differing(root) == [(page, name)]
    assert pages.main(["--root", root, "--check"]) == 1
    assert name in capsys.readouterr().out
    assert pages.main(["--root", root]) == 0
    assert pages.differing(root) == [] and open(path).read() == text


def test_a_page_without_its_markers_is_a_clear_error(tmp_path):
    root = _copy(tmp_path)
    page, name = sorted(pages.BLOCKS)[0]
    path = os.path.join(root, page)
    text = open(path).read()
    open(path, "w").write(text.replace(pages.END.format(name=name), ""))
    with pytest.raises(ValueError, match=f"no generated block '{name}'"):
        pages.differing(root)
