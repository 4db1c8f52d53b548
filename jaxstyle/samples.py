"""Default sample images, embedded: scikit-image's bundled photos and three bundled paintings.

scikit-image (a pinned dependency) ships a few image files in its wheel under
``skimage/data/``; jaxstyle uses those as content photos, located on disk (nothing is
downloaded: ``skimage.data.<fn>()`` would fetch some images with pooch). Styles are three
public-domain paintings shipped in this package (``jaxstyle/sample_images/``, downscaled to
512 px; see the NOTICE there). Anywhere an image path is accepted, ``sample:NAME`` names one
of them (e.g. ``sample:chelsea``, ``sample:starry_night``): :func:`jaxstyle.io.load_image`
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
    # style paintings, bundled in jaxstyle/sample_images (public domain, see the NOTICE there)
    "starry_night": "jaxstyle:starry_night.jpg",  # van Gogh, 1889
    "the_scream": "jaxstyle:the_scream.jpg",  # Munch, 1893
    "great_wave": "jaxstyle:great_wave.jpg",  # Hokusai, c. 1831
    # style textures from scikit-image
    "ihc": "ihc.png",  # immunohistochemistry slide: brushy brown on blue, the most painting-like
    "hubble": "hubble_deep_field.jpg",  # 1000x872
    "retina": "retina.jpg",  # 1411x1411
}
CONTENT_SAMPLES: tuple[str, ...] = ("chelsea", "astronaut", "coffee", "rocket", "motorcycle")
STYLE_SAMPLES: tuple[str, ...] = ("starry_night", "the_scream", "great_wave", "ihc", "hubble", "retina")

DEFAULT_CONTENT = "chelsea"
DEFAULT_STYLE = "starry_night"
BUNDLED_DIR = Path(__file__).with_name("sample_images")


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
    file = SAMPLES[name]
    if file.startswith("jaxstyle:"):
        path = BUNDLED_DIR / file.removeprefix("jaxstyle:")
        owner = "jaxstyle"
    else:
        path, owner = _skimage_data_dir() / file, "scikit-image"
    if not path.is_file():
        raise InputError(f"{SAMPLE_PREFIX}{name}: {path} is missing from the {owner} installation")
    return path
