"""The first minute: one content photo through all three families of jaxstyle.

:func:`three_families` stylizes one photo with one painting by Gatys et al.'s optimization
and by Ghiasi et al.'s pretrained arbitrary-style network, and with one of the 26 built-in
styles of the pretrained CIN network, and writes each result and a labelled sheet
(``jaxstyle demo``, ``make demo``). Everything it needs ships with the installed packages.
The output folder and every file in it are checked writable before anything is computed, and
each file is handed to ``on_write`` as soon as it lands.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from jaxstyle.io import load_image, make_grid_rows, resize_long_side, save_image
from jaxstyle.methods import load_stylizer
from jaxstyle.options import check_path
from jaxstyle.samples import DEFAULT_CONTENT, DEFAULT_STYLE

DEMO_CIN_STYLE = 19  # a blue-and-yellow brushwork style close to the default painting
DEMO_METHODS = ("gatys", "ghiasi", "cin")  # one of each family, in the order they run


def three_families(
    output_dir: str | Path,
    content: str = f"sample:{DEFAULT_CONTENT}",
    style: str = f"sample:{DEFAULT_STYLE}",
    *,
    size: int = 256,
    steps: int = 150,
    cin_style: int = DEMO_CIN_STYLE,
    log: Callable[[str], None] = print,
    on_write: Callable[[Path], None] | None = None,
) -> list[Path]:
    """Write ``{gatys,ghiasi,cin}.png`` and ``demo_sheet.png`` into ``output_dir``; return them.

    ``size`` is the long side of every result; ``steps`` the optimizer steps of Gatys. Every
    target is checked writable first (one-line :class:`~jaxstyle.errors.InputError`), and
    ``on_write(path)`` is called as each file lands (the CLI prints ``wrote PATH``).
    """
    out = Path(output_dir)
    check_path(output_dir, "new-dir", "--output")
    for name in (*(f"{method}.png" for method in DEMO_METHODS), "demo_sheet.png"):
        check_path(out / name, "new-image", "--output")
    photo, painting = load_image(content), load_image(style)
    written: list[Path] = []

    def save(path: Path, image) -> None:
        written.append(save_image(path, image))
        if on_write is not None:
            on_write(written[-1])

    runs = [
        ("gatys", f"Gatys et al., {steps} L-BFGS steps", {"steps": steps}, [painting], {}),
        ("ghiasi", "Ghiasi et al., pretrained, one pass", {}, [painting], {}),
        ("cin", f"CIN, built-in style {cin_style}", {}, None, {"cin_style": cin_style}),
    ]
    results, labels = [], []
    for method, label, options, styles, controls in runs:
        t0 = time.perf_counter()
        stylizer = load_stylizer(method, **options)
        result = stylizer.stylize([photo], styles, size=size, **controls)[0]
        seconds = time.perf_counter() - t0
        log(f"{method}: {seconds:.1f} s")
        save(out / f"{method}.png", result)
        results.append(result)
        labels.append(f"{label} ({seconds:.0f} s)")
    row = [resize_long_side(photo, size), resize_long_side(painting, size), *results]
    sheet = make_grid_rows([row], height=size, labels=[["content", "style", *labels]])
    save(out / "demo_sheet.png", sheet)
    return written
