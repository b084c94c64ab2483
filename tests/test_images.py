"""gbas_jax.io.images (``gb.viz``): image grids and labelled rows, against the pixels."""

import numpy as np
import pytest
from PIL import Image

import gbas_jax as gb

pytestmark = pytest.mark.fast


def test_to_uint8_maps_the_range_and_clips():
    x = np.array([-2.0, -1.0, 0.0, 1.0, 3.0], np.float32).reshape(1, 1, 5, 1)
    np.testing.assert_array_equal(gb.viz.to_uint8(x).ravel(), [0, 0, 128, 255, 255])


def test_grid_places_every_image_row_by_row():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (5, 3, 4, 3)).astype(np.float32)
    img = np.asarray(gb.viz.grid(x, ncol=2, pad=1))
    assert img.shape == (3 * (3 + 1) + 1, 2 * (4 + 1) + 1, 3)
    u = gb.viz.to_uint8(x)
    for i in range(5):
        r, q = divmod(i, 2)
        np.testing.assert_array_equal(img[1 + r * 4:1 + r * 4 + 3, 1 + q * 5:1 + q * 5 + 4], u[i])
    assert (img[-4:-1, 6:10] == 255).all()                  # the empty sixth cell stays white
    big = gb.viz.grid(x[:1, :, :, :1], scale=3)
    assert big.size == ((4 + 4) * 3, (3 + 4) * 3) and big.mode == "L"


def test_labelled_rows_and_save(tmp_path):
    rows = [np.zeros((2, 4, 4, 1), np.float32), np.ones((3, 4, 4, 1), np.float32)]
    pic = gb.viz.labelled_rows(rows, ["a", "b"], ncol=3, scale=2, label_width=20)
    assert pic.mode == "RGB" and pic.width == 20 + (3 * 6 + 2) * 2
    assert pic.height == sum(gb.viz.grid(r[:3], ncol=3, scale=2).height for r in rows)
    path = tmp_path / "p.png"
    gb.viz.save_png(pic, str(path))
    with Image.open(path) as back:
        np.testing.assert_array_equal(np.asarray(back), np.asarray(pic))
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]
