"""The docs say what the code is: the README's method table is the registry, every path the docs
name exists, and every `jaxstyle ...` command the README shows parses with the flags of the
method it names (what would change if a flag were renamed or a method lost one)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from jaxstyle.methods import METHODS, get_method

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")), REPO / "BENCHMARKS.md"]
README_MAX_LINES = 400
TABLE_ROW = re.compile(r"^\| \[`(\w+)`\]\((docs/methods/\w+\.md)\) \| ([\w-]+) \|")
# `jaxstyle/x.py`, `docs/y.md`, `configs/z.py:tiny`, `tests/t.py::name`, `benchmarks/b.py ...`
NAMED_PATH = re.compile(r"`((?:jaxstyle|docs|configs|benchmarks|tests|launch)/[\w./-]*\w)(?::[\w:,]*)?[^`]*`")
LINK = re.compile(r"\]\(([^)#:]+)(?:#[^)]*)?\)")
PLACEHOLDER = re.compile(r"\b[A-Z]{3,}\b")  # configs/NAME.py: a pattern, not a path


def test_readme_is_a_short_guide():
    assert len((REPO / "README.md").read_text().splitlines()) <= README_MAX_LINES


def test_readme_method_table_is_the_registry():
    rows = [TABLE_ROW.match(line) for line in (REPO / "README.md").read_text().splitlines()]
    rows = [r for r in rows if r]
    assert [r[1] for r in rows] and sorted(r[1] for r in rows) == sorted(METHODS)
    for name, page, kind in (r.groups() for r in rows):
        assert page == get_method(name).docs and (REPO / page).is_file(), name
        assert kind == get_method(name).kind, name


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_path_the_docs_name_exists(doc):
    text = doc.read_text()
    named = [m for m in NAMED_PATH.findall(text) if "*" not in m and not PLACEHOLDER.search(m)]
    missing = [m for m in named if not (REPO / m).exists()]
    missing += [link for link in LINK.findall(text)
                if not link.startswith("http") and not (doc.parent / link).exists()]
    assert not missing, f"{doc.name} names paths that do not exist: {missing}"


def _readme_commands() -> list[list[str]]:
    """The `jaxstyle ...` lines of the README's bash blocks (``...`` and comments dropped,
    continuation lines joined)."""
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("jaxstyle "):
                commands.append([a for a in shlex.split(line)[1:] if a != "..."])
    return commands


@pytest.mark.parametrize("argv", _readme_commands(), ids=lambda a: " ".join(a)[:60])
def test_readme_commands_parse_with_their_methods_flags(argv, monkeypatch):
    from jaxstyle import options
    from jaxstyle.cli import build_parser

    monkeypatch.setattr(options, "check_path", lambda *a, **k: None)  # the README's files are examples
    if "--help" in argv:
        with pytest.raises(SystemExit) as exit_:
            build_parser(argv).parse_known_args(argv)
        assert exit_.value.code == 0
        return
    args, extras = build_parser(argv).parse_known_args(argv)
    assert not extras, f"flags the parser does not know: {extras}"
    assert getattr(args, "func", None) is not None
