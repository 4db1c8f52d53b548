"""Default sample images, embedded: the colour images bundled inside scikit-image.

scikit-image (a pinned dependency) ships a few image files in its wheel under
``skimage/data/``. jaxstyle uses only those bundled files, located on disk: nothing is
downloaded (``skimage.data.<fn>()`` would fetch some images with pooch) and nothing here
depends on files outside the installed packages. Anywhere an image path is accepted,
``sample:NAME`` names one of them (e.g. ``sample:chelsea``): :func:`jaxstyle.io.load_image`
resolves it with :func:`sample_path`, so this module maps names to files and reads none.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from jaxstyle.errors import InputError

SAMPLE_PREFIX = "sample:"

# name -> file name in skimage/data/
SAMPLES: dict[str, str] = {
    # content photos
    "chelsea": "chelsea.png",  # a cat, 451x300
    "astronaut": "astronaut.png",  # Eileen Collins, 512x512
    "coffee": "coffee.png",  # a cup of coffee, 600x400
    "rocket": "rocket.jpg",  # a launch, 640x427
    "motorcycle": "motorcycle_left.png",  # 741x500
    # style textures
    "ihc": "ihc.png",  # immunohistochemistry slide: brushy brown on blue, the most painting-like
    "hubble": "hubble_deep_field.jpg",  # 1000x872
    "retina": "retina.jpg",  # 1411x1411
}
CONTENT_SAMPLES: tuple[str, ...] = ("chelsea", "astronaut", "coffee", "rocket", "motorcycle")
STYLE_SAMPLES: tuple[str, ...] = ("ihc", "hubble", "retina")

DEFAULT_CONTENT = "chelsea"
DEFAULT_STYLE = "ihc"


def _skimage_data_dir() -> Path:
    # find_spec locates the installed package without importing it (or its pooch fetcher).
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("sample images need scikit-image, which is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def sample_path(name: str) -> Path:
    """Path of the bundled sample image ``name`` (see :data:`SAMPLES`).

    Raises:
        InputError: unknown name (the message lists the valid ones), or a scikit-image
            installation that lacks the bundled file.
    """
    if name not in SAMPLES:
        raise InputError(
            f"{SAMPLE_PREFIX}{name}: unknown sample; choose one of {', '.join(SAMPLES)}"
        )
    path = _skimage_data_dir() / SAMPLES[name]
    if not path.is_file():
        raise InputError(
            f"{SAMPLE_PREFIX}{name}: {path} is missing from the scikit-image installation"
        )
    return path
