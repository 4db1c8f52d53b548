"""Fetch torchvision's official VGG weights where a network exists, with checksum checks.

``download("vgg19")`` streams ``https://download.pytorch.org/models/vgg19-dcbb9e9d.pth``
to a temporary file beside the cache, checks that its SHA-256 starts with the hash in the
file name (torchvision's convention: the first 8 hex digits), converts it with
:func:`~jaxstyle.weights.importers.import_weights` and writes the cache entry. The ``.pth``
itself is not kept.

It never hangs: name resolution, connecting and every read are bounded by ``timeout``
seconds, and an unreachable host fails at once with a one-line
:class:`~jaxstyle.errors.WeightsError` saying how to import a copied file instead.
``$JAXSTYLE_DOWNLOAD_BASE`` replaces ``https://download.pytorch.org/models`` (mirrors, tests).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from jaxstyle.errors import WeightsError
from jaxstyle.weights.importers import default_name, import_weights
from jaxstyle.weights.registry import imported_path
from jaxstyle.weights.store import cache_dir, save_vgg_weights

DEFAULT_BASE = "https://download.pytorch.org/models"
FILES = {"vgg16": "vgg16-397923af.pth", "vgg19": "vgg19-dcbb9e9d.pth"}
CHUNK = 1 << 20


def url_for(name: str, base: str | None = None) -> str:
    """Official URL of ``name`` (``vgg16``/``vgg19``), or under ``base``/$JAXSTYLE_DOWNLOAD_BASE."""
    if name not in FILES:
        raise WeightsError(f"no download known for {name!r}; available: {', '.join(FILES)}")
    base = base or os.environ.get("JAXSTYLE_DOWNLOAD_BASE") or DEFAULT_BASE
    return f"{base.rstrip('/')}/{FILES[name]}"


def expected_sha256_prefix(url: str) -> str:
    """torchvision's file-name hash prefix: ``vgg19-dcbb9e9d.pth`` -> ``dcbb9e9d``."""
    m = re.search(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$", urllib.parse.urlparse(url).path)
    if not m:
        raise WeightsError(f"{url}: file name carries no SHA-256 prefix to verify against")
    return m.group(1)


def verify_sha256(path: str | Path, expected_prefix: str, digest: str | None = None) -> str:
    """Check that the SHA-256 of ``path`` (or the given hex ``digest``) starts with the prefix."""
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                h.update(chunk)
        digest = h.hexdigest()
    if not digest.startswith(expected_prefix.lower()):
        raise WeightsError(
            f"{path}: checksum mismatch: sha256 {digest[:16]}..., expected it to start with "
            f"{expected_prefix} (corrupt or tampered download)"
        )
    return digest


def _resolve(host: str, port: int, timeout: float) -> None:
    """getaddrinfo with a deadline (it has no timeout of its own and can stall offline).

    A daemon thread, not an executor: executor threads are joined at interpreter exit, so a
    stuck resolver would hang the process on the way out.
    """
    result: list[BaseException | None] = []

    def work() -> None:
        try:
            socket.getaddrinfo(host, port)
            result.append(None)
        except BaseException as e:  # handed to the caller's thread
            result.append(e)

    thread = threading.Thread(target=work, name="jaxstyle-resolve", daemon=True)
    thread.start()
    thread.join(timeout)
    if not result:
        raise OSError(f"name resolution timed out after {timeout:g} s")
    if result[0] is not None:
        raise result[0]


def fetch(
    url: str,
    dest_dir: Path,
    *,
    timeout: float = 10.0,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Stream ``url`` into a temporary file in ``dest_dir`` and verify its hash prefix.

    Returns the temporary file's path (the caller deletes it).
    """
    prefix = expected_sha256_prefix(url)
    parts = urllib.parse.urlparse(url)
    host = parts.hostname or ""
    where = f"{host}:{parts.port}" if parts.port else host
    hint = "copy the file here and run `jaxstyle weights import FILE`"
    try:
        _resolve(host, parts.port or (443 if parts.scheme == "https" else 80), timeout)
        response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (fixed https URLs)
    except urllib.error.HTTPError as e:
        raise WeightsError(f"{url}: download failed with HTTP {e.code} ({e.reason})") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise WeightsError(f"cannot reach {where}: {reason} — {hint}") from None
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=".download-", suffix=".pth.tmp")
    h = hashlib.sha256()
    try:
        with response, os.fdopen(fd, "wb") as f:
            total = response.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            done = 0
            while chunk := response.read(CHUNK):
                f.write(chunk)
                h.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        if total is not None and done != total:
            raise WeightsError(f"{url}: download incomplete ({done} of {total} bytes)")
        verify_sha256(url, prefix, digest=h.hexdigest())
    except (OSError, http.client.HTTPException) as e:
        Path(tmp).unlink(missing_ok=True)
        raise WeightsError(f"download from {where} interrupted: {e} — {hint}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def download(
    name: str,
    *,
    url: str | None = None,
    timeout: float = 10.0,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download, verify, convert and cache torchvision's ``name`` weights; return the cache path.

    Args:
      name: ``vgg16`` or ``vgg19``.
      url: another location; its file name must carry the SHA-256 prefix like torchvision's.
      timeout: seconds allowed for resolving, connecting and each read.
      progress: called with (bytes so far, total or None) after each chunk.
    """
    url = url or url_for(name)
    tmp = fetch(url, cache_dir(), timeout=timeout, progress=progress)
    try:
        weights = import_weights(tmp, arch=name)
        weights.source = f"torchvision {name} ({url})"
        return save_vgg_weights(imported_path(default_name(weights)), weights)
    finally:
        tmp.unlink(missing_ok=True)
