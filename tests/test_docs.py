"""The docs say what the code is: the README's method table is the registry, every path the docs
name exists, and every `jaxstyle ...` command the README shows parses with the flags of the
method it names (what would change if a flag were renamed or a method lost one), and every test
the docs name as ``tests/test_x.py::test_name`` exists and runs in the default suite (a name that no
longer exists, or a test only ``make test-slow`` runs, would be a guarantee CI never checks;
docs/guarantees.md lists them all)."""

from __future__ import annotations

import ast
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
REFERENCE = re.compile(r"\btests/([\w/]+\.py)::(\w+)(?:\[[^\]\s`]*\])?")


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


def references(text: str) -> list[tuple[str, str]]:
    """``(file, test name)`` of every ``tests/FILE.py::NAME`` in ``text`` (a ``[param]`` suffix
    names one case of a parametrized test; the test itself is what is checked)."""
    return REFERENCE.findall(text)


def _is_slow_mark(node: ast.expr) -> bool:
    """``pytest.mark.slow`` (also called, ``pytest.mark.slow(...)``)."""
    if isinstance(node, ast.Call):
        node = node.func
    return isinstance(node, ast.Attribute) and node.attr == "slow"


def _all_cases_slow(decorator: ast.expr) -> bool:
    """A ``parametrize`` whose literal list holds only ``pytest.param(..., marks=slow)`` cases."""
    if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
            and decorator.func.attr == "parametrize" and len(decorator.args) >= 2):
        return False
    cases = decorator.args[1]
    if not isinstance(cases, ast.List | ast.Tuple) or not cases.elts:
        return False  # built in code: its cases are not visible here, so not counted as slow

    def slow(case: ast.expr) -> bool:
        marks = [k.value for k in getattr(case, "keywords", []) if k.arg == "marks"]
        flat = [m for mark in marks for m in (mark.elts if isinstance(mark, ast.List | ast.Tuple) else [mark])]
        return any(_is_slow_mark(m) for m in flat)

    return all(slow(case) for case in cases.elts)


def status_of(path: Path, name: str) -> str:
    """``"default"``, ``"slow"`` or ``"missing"``: how ``make test`` treats test ``name`` of ``path``."""
    if not path.is_file():
        return "missing"
    tree = ast.parse(path.read_text())
    module_slow = any(isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets)
                      and "slow" in ast.unparse(node.value) for node in tree.body)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            slow = module_slow or any(_is_slow_mark(d) or _all_cases_slow(d) for d in node.decorator_list)
            return "slow" if slow else "default"
    return "missing"


def test_every_test_the_docs_name_exists_and_runs_in_the_default_suite():
    found, bad = 0, []
    for doc in [d for d in DOCS if d.name != "BENCHMARKS.md"]:  # a record of measurements: it may cite slow tests
        for file, name in references(doc.read_text()):
            found += 1
            status = status_of(REPO / "tests" / file, name)
            if status != "default":
                bad.append(f"{doc.relative_to(REPO)}: tests/{file}::{name} is {status}")
    assert not bad, "\n".join(bad)
    assert found >= 30, f"only {found} test references in README.md, docs/ and BENCHMARKS.md"  # docs/guarantees.md has them


def test_the_reference_check_sees_missing_and_slow_tests(tmp_path):
    """The checker itself: a slow test, an all-slow parametrization and a missing name are caught;
    a parametrization with a default case is not."""
    source = tmp_path / "test_fake.py"
    source.write_text(
        "import pytest\n"
        "@pytest.mark.slow\ndef test_slow(): pass\n"
        "@pytest.mark.parametrize('x', [pytest.param(1, marks=pytest.mark.slow)])\ndef test_all_slow(x): pass\n"
        "@pytest.mark.parametrize('x', [0, pytest.param(1, marks=pytest.mark.slow)])\ndef test_some_slow(x): pass\n"
        "def test_fast(): pass\n"
    )
    assert [status_of(source, n) for n in ("test_slow", "test_all_slow", "test_some_slow", "test_fast", "test_gone")] \
        == ["slow", "slow", "default", "default", "missing"]
    text = "see tests/test_fake.py::test_some_slow[1] and `tests/sub/test_y.py::test_z`."
    assert references(text) == [("test_fake.py", "test_some_slow"), ("sub/test_y.py", "test_z")]


@pytest.mark.parametrize("doc", ["docs/guarantees.md"])
def test_the_guarantees_page_names_a_test_on_every_guarantee_line(doc):
    """docs/guarantees.md: every bullet (one guarantee) names at least one test."""
    bullets = [line for line in (REPO / doc).read_text().splitlines() if line.startswith("- ")]
    assert len(bullets) >= 20
    unnamed = [line for line in bullets if not references(line)]
    assert not unnamed, unnamed


def _number(cell: str) -> float:
    return 0.0 if cell.strip() in ("–", "-") else float(cell.split()[0])


def test_gatys_defaults_table_is_what_the_objectives_and_the_cli_run_with():
    """docs/methods/gatys.md's defaults table and the step/size figures under it."""
    from jaxstyle.optimize.gatys import OBJECTIVES, StylizeConfig

    text = (REPO / "docs/methods/gatys.md").read_text()
    rows = {m[1]: [c.strip() for c in m[2].split("|")]
            for m in re.finditer(r"^\| `(\w+)`[^|]*\|(.*)\|$", text, re.M)}
    assert sorted(rows) == sorted(OBJECTIVES)
    for name, (content_layers, style_layers, content_w, style_w, tv_w, lap) in rows.items():
        objective = OBJECTIVES[name]()
        first, last = (int(layer[4]) for layer in style_layers.split(" … "))
        assert objective.style_layers == tuple(f"relu{k}_1" for k in range(first, last + 1)), name
        assert objective.content_layers == tuple(content_layers.split(", ")), name
        lpips_w = re.fullmatch(r"\S+ \(LPIPS: (\S+)\)", content_w)
        assert OBJECTIVES[name](content_loss="lpips").weight("content") == float(lpips_w[1]), name
        got = [objective.weight(t) for t in ("content", "style", "tv", "lap")]
        assert got == [_number(c) for c in (content_w, style_w, tv_w, lap)], name
        if objective.weight("lap"):
            assert f"{objective.lap_pool}×{objective.lap_pool} average pool" in lap, name
    steps, size = map(int, re.search(r"run (\d+) steps per scale at (\d+) px", text).groups())
    for name in OBJECTIVES:
        method = get_method(name)
        defaults = {o.name: o.default for o in (*method.options, *method.controls)}
        assert (defaults["steps"], defaults["size"]) == (steps, size), name
    engine = re.search(r"defaults to (\d+) px and (\d+) steps", text).groups()
    assert (StylizeConfig().size, StylizeConfig().steps) == tuple(map(int, engine))
