"""Atomic file writes, for every module that saves something (images, weights, reports).

This module sits below everything else in jaxstyle and imports nothing from it. A write goes
to a temporary file in the target's folder (the same file system, so the rename is atomic),
is flushed to disk, and is renamed over the target: readers never see a half-written file,
and a failed write leaves any existing file untouched.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, creating parent folders.

    The file gets the permissions a plain ``open()`` would give it (0666 less the umask),
    not the 0600 of the temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)  # reading the umask means setting it; put it straight back
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see :func:`write_bytes_atomic`), UTF-8 by default."""
    write_bytes_atomic(path, text.encode(encoding))


def check_can_write(path: str | Path) -> None:
    """Raise OSError (with a one-line reason) unless a file could be written at ``path``.

    Checked before a long computation, writing nothing: ``path`` is not a folder, its
    nearest existing ancestor is a folder (not a file), and a file can be created there
    (a probe file is created and removed at once: permissions, read-only or virtual file
    systems such as /proc).
    """
    path = Path(path).expanduser().absolute()
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise NotADirectoryError(f"{parent} is a file, not a folder")
    fd, probe = tempfile.mkstemp(dir=parent, prefix=".jaxstyle-probe-")
    os.close(fd)
    os.unlink(probe)
