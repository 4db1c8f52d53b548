"""The job manifest beside a collection's outputs: its settings, and which outputs are done.

``OUT/jaxstyle-manifest.json`` holds the settings that decide the results (method, its
options and controls, shape buckets and fit, pairing) and their fingerprint; each process
appends one JSON line per finished output to ``OUT/jaxstyle-done-<process>.jsonl`` after all
of that output's files are written (atomically). A re-run reads every ``jaxstyle-done-*``
file, whatever process count wrote it, and skips an output whose record is there, whose
inputs are unchanged (path, size, mtime) and whose files all exist. A re-run with other
settings is refused in one line unless ``overwrite`` is given, which forgets the records.
A line cut short by a kill is ignored (that output is redone).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jaxstyle.errors import InputError
from jaxstyle.files import write_text_atomic

MANIFEST = "jaxstyle-manifest.json"
DONE_GLOB = "jaxstyle-done-*.jsonl"


def fingerprint(settings: Mapping[str, Any]) -> str:
    """A short hash of ``settings`` (JSON, keys sorted)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Manifest:
    """The manifest of the job writing into ``folder`` (see the module docstring)."""

    def __init__(self, folder: str | Path, settings: Mapping[str, Any], process: int = 0):
        self.folder = Path(folder)
        self.settings = json.loads(json.dumps(dict(settings), sort_keys=True, default=str))
        self.fingerprint = fingerprint(self.settings)
        self.path = self.folder / MANIFEST
        self.done_path = self.folder / f"jaxstyle-done-{process}.jsonl"
        self._made = (False, False)  # (the manifest, its folder) created by this run's start()

    def check(self, overwrite: bool = False) -> None:
        """Refuse (one line) a folder holding a job with other settings, unless ``overwrite``.
        Writes nothing."""
        old = self._read_settings()
        if old is None or overwrite or old.get("fingerprint") == self.fingerprint:
            return
        changed = _first_change(old.get("settings", {}), self.settings)
        raise InputError(f"{self.folder} holds the outputs of a job with other settings ({changed}); add "
                         "--overwrite to redo them with these, or pick another --output")

    def start(self, overwrite: bool = False) -> None:
        """Write the manifest (forgetting the done records of other settings with ``overwrite``)."""
        old = self._read_settings()
        if old is not None and old.get("fingerprint") != self.fingerprint:
            if not overwrite:
                self.check()
            for path in self.folder.glob(DONE_GLOB):
                path.unlink(missing_ok=True)
        self._made = (old is None, not self.folder.exists())
        write_text_atomic(self.path, json.dumps({"fingerprint": self.fingerprint, "settings": self.settings},
                                                indent=1, sort_keys=True) + "\n")

    def discard(self) -> None:
        """Undo :meth:`start` for a job refused before its first result: remove the manifest and
        its folder if this run made them (a folder that holds anything else is kept)."""
        new_manifest, new_folder = self._made
        if new_manifest and not any(self.folder.glob(DONE_GLOB)):
            self.path.unlink(missing_ok=True)
            if new_folder and not any(self.folder.iterdir()):
                self.folder.rmdir()

    def done(self) -> dict[str, dict[str, Any]]:
        """``{output name: record}`` of every process's finished outputs (records of files that
        are gone are dropped; a torn last line is ignored)."""
        if self._read_settings() is None or self._read_settings().get("fingerprint") != self.fingerprint:
            return {}
        records: dict[str, dict[str, Any]] = {}
        for path in sorted(self.folder.glob(DONE_GLOB)):
            for line in path.read_text(errors="replace").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and "name" in record:
                    records[record["name"]] = record
        return {name: r for name, r in records.items()
                if all((self.folder / f).is_file() for f in r.get("files", ()))}

    def mark(self, name: str, files: Sequence[Path], inputs: Sequence[str]) -> None:
        """Record output ``name`` as done: its ``files`` (written), the keys of its ``inputs``."""
        line = json.dumps({"name": name, "files": [os.path.relpath(f, self.folder) for f in files],
                           "inputs": list(inputs)})
        with open(self.done_path, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _read_settings(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError):
            return None


def _first_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """``key: X there, Y here`` for the first setting that differs."""
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            return f"{key}: {old.get(key)!r} there, {new.get(key)!r} here"
    return "another version"
