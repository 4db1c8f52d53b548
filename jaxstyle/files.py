"""Atomic file writes, for every module that saves something (images, weights, reports).

This module sits below everything else in jaxstyle and imports nothing from it. A write goes
to a temporary file in the target's folder (the same file system, so the rename is atomic),
is flushed to disk, and is renamed over the target: readers never see a half-written file,
and a failed write leaves any existing file untouched.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, creating parent folders.

    The file gets the permissions a plain ``open()`` would give it (0666 less the umask),
    not the 0600 of the temporary file. An OSError names ``path`` (never the temporary file,
    an internal name the user did not give).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise _naming(e, path) from None
    try:
        umask = os.umask(0)  # reading the umask means setting it; put it straight back
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise _naming(e, path) from None
        raise


def _naming(err: OSError, path: Path) -> OSError:
    """``err`` (same type and errno) about ``path``: ``[Errno 28] No space left on device: 'PATH'``."""
    return type(err)(err.errno, err.strerror or str(err), str(path))


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see :func:`write_bytes_atomic`), UTF-8 by default."""
    write_bytes_atomic(path, text.encode(encoding))


def check_can_write(path: str | Path) -> None:
    """Raise OSError (with a one-line reason in ``strerror``) unless a file could be written at ``path``.

    Checked before a long computation, writing nothing: ``path`` is not a folder, its
    nearest existing ancestor is a folder (not a file), and a file can be created there
    (a probe file is created and removed at once: permissions, read-only or virtual file
    systems such as /proc). The error names that folder, never the probe.
    """
    path = Path(path).expanduser().absolute()
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"{path} is a folder", str(path))
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"{parent} is a file, not a folder", str(parent))
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=".jaxstyle-probe-")
    except OSError as e:
        # /proc and the like answer "No such file or directory" for a folder that exists.
        reason = f"{parent} takes no new files" if e.errno == errno.ENOENT else f"{e.strerror} in {parent}"
        raise type(e)(e.errno, reason, str(parent)) from None
    os.close(fd)
    os.unlink(probe)
