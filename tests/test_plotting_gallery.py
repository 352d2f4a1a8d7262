"""docs/gallery.py draws every plotting function from the W h sample (the pictures of docs/plotting.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import matplotlib.image
import numpy as np

import motherlode.plotting

GALLERY = Path(__file__).resolve().parent.parent / "docs" / "gallery.py"


def test_the_gallery_draws_every_plotting_function(tmp_path):
    spec = importlib.util.spec_from_file_location("gallery", GALLERY)
    gallery = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gallery)
    paths = gallery.draw(tmp_path)
    assert len(paths) == len(motherlode.plotting.__all__) - 1  # every function but set_style
    for path in paths:
        image = matplotlib.image.imread(path)
        assert image.shape[0] > 300 and image.shape[1] > 300, path.name
        assert np.ptp(image[..., :3]) > 0.5, f"{path.name} is blank"
    # the pictures in docs/img are the ones the gallery makes
    assert sorted(p.name for p in paths) == sorted(p.name for p in (GALLERY.parent / "img").glob("*.png"))
