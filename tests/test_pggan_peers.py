"""benchmarks/pggan_peers.py: the genforce and InterFaceGAN PGGAN converters against
the peers' own modules (genforce/genforce, genforce/interfacegan: their networks,
their files, their forward passes), every figure under 1e-4, and the project's
mirror (torch_mirror/genforce.py, what tests/test_genforce.py uses) equal to them.

Point ``GBAS_JAX_GENFORCE_SRC`` and ``GBAS_JAX_INTERFACEGAN_SRC`` at checkouts and run
``pytest --tier peers``; never run by CI or ``--tier all``; a missing path fails it."""

import json
import os

import pytest

pytest.importorskip("torch", reason="torch is a test dependency: pip install -e '.[test]'")

pytestmark = pytest.mark.peers

GENFORCE = os.environ.get("GBAS_JAX_GENFORCE_SRC", "")
INTERFACEGAN = os.environ.get("GBAS_JAX_INTERFACEGAN_SRC", "")


def test_converted_pggans_match_the_peers_own_code(tmp_path):
    if not (os.path.isfile(os.path.join(GENFORCE, "models", "pggan_generator.py"))
            and os.path.isfile(os.path.join(INTERFACEGAN, "models", "pggan_generator_model.py"))):
        pytest.fail("the peers tier needs GBAS_JAX_GENFORCE_SRC and GBAS_JAX_INTERFACEGAN_SRC: checkouts of "
                    "genforce/genforce and genforce/interfacegan")
    from benchmarks import pggan_peers

    out = tmp_path / "pggan_peers.json"
    rc = pggan_peers.main(["--genforce", GENFORCE, "--interfacegan", INTERFACEGAN, "--out", str(out)])
    data = json.loads(out.read_text())
    assert {r["layout"] for r in data["results"]} == {"pggan-genforce", "pggan-interfacegan"}
    assert all(len(r["layers"]) >= 6 for r in data["results"])
    figures = [(r["name"], k, r[k]) for r in data["results"] for k in ("image", "layers_max", "mirror_image")]
    assert not [f for f in figures if not f[2] < 1e-4], figures
    assert rc == 0 and data["passed"]
