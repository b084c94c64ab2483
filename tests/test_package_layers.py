"""The package's one-way layers: each imports only the layers below it.

    core (0) <- runtime (1) <- models (2) <- io (3) <- parallel (4) <- apps, converters (5) <- cli (6)

Checked on the source (an AST walk that sees imports inside functions too): no
import points to a higher layer, the module graph has no cycle, and no module
imports a leading-underscore name from another subpackage.
"""

import ast
import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.fast

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAYERS = {"gbas_jax.core": 0, "gbas_jax.runtime": 1, "gbas_jax.models": 2, "gbas_jax.io": 3,
          "gbas_jax.parallel": 4, "gbas_jax.apps": 5, "converters": 5, "gbas_jax.cli": 6, "gbas_jax": 7}


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package(name: str) -> bool:
    return (ROOT / name.replace(".", "/") / "__init__.py").is_file()


def exists(name: str) -> bool:
    return is_package(name) or (ROOT / (name.replace(".", "/") + ".py")).is_file()


def subpackage(name: str) -> str:
    """``gbas_jax.core.kept`` -> ``gbas_jax.core``; ``converters.layouts`` -> ``converters``."""
    return max((p for p in LAYERS if name == p or name.startswith(p + ".")), key=len)


def imports_of(path: pathlib.Path):
    """``(target module, imported names)`` for every import statement of the file,
    relative imports resolved; only targets inside the project."""
    me = module_name(path)
    package = me if is_package(me) else me.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.append((sub, []) if exists(sub) else (base, [a.name]))
    return [(t, names) for t, names in out if t.split(".")[0] in ("gbas_jax", "converters")]


def project_modules():
    files = sorted((ROOT / "gbas_jax").rglob("*.py")) + sorted((ROOT / "converters").rglob("*.py"))
    return {module_name(f): imports_of(f) for f in files}


GRAPH = project_modules()


def test_every_import_points_to_the_same_or_a_lower_layer():
    bad = [(src, t) for src, targets in GRAPH.items() for t, _ in targets
           if LAYERS[subpackage(t)] > LAYERS[subpackage(src)]]
    assert not bad, "imports that point upwards: " + ", ".join(f"{s} -> {t}" for s, t in bad)


def test_no_private_names_across_subpackages():
    bad = [(src, t, n) for src, targets in GRAPH.items() for t, names in targets for n in names
           if n.startswith("_") and subpackage(t) != subpackage(src)]
    assert not bad, bad


def test_no_import_cycles():
    edges = {src: {t for t, _ in targets if t in GRAPH and t != src} for src, targets in GRAPH.items()}
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])


def test_the_walk_sees_every_kind_of_import():
    # The checks above are only as good as the walk: it must see relative,
    # absolute and function-level imports.
    cli = dict(GRAPH["gbas_jax.cli"])
    assert "gbas_jax.apps.sample" in cli and "gbas_jax.core.config" in cli
    assert "converters" in cli                              # imported inside main()
    assert ("gbas_jax.core.results", ["RRTResult"]) in GRAPH["gbas_jax.core.rrt"]


def test_core_loads_alone():
    code = ("import sys, gbas_jax.core as c; c.EGBASConfig(); "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith(('gbas_jax', 'flax', 'orbax')))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=ROOT).stdout.split()
    assert "gbas_jax.core.rrt" in loaded and "gbas_jax.core.beropt" in loaded
    higher = [m for m in loaded if m.startswith(("gbas_jax.runtime", "gbas_jax.models", "gbas_jax.io", "gbas_jax.parallel",
                                                 "gbas_jax.apps", "gbas_jax.cli", "flax", "orbax"))]
    assert not higher, higher
