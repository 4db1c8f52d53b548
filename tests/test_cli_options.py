"""Every option of every subcommand comes from one declaration and refuses bad values in one line.

The generative test walks the parsers (``jaxstyle.cli.build_parser``; ``stylize`` once per method,
with that method's flags) and finds each argument's :class:`~jaxstyle.options.Option` on its
argparse action, so an option added later is covered without a test of its own. Each value a
declaration refuses must give exactly one ``error: argument FLAG: ...`` line, exit 2, no traceback
and no file; all of it happens while parsing, in this process, with no JAX work (seconds).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_cli

from jaxstyle.errors import InputError
from jaxstyle.options import INPUT_KINDS, Option

HUGE_INT = "1" + "0" * 30
NUMBERS = ("0", "-1", "huge", "nan", "inf", "abc")
PATHS = ("missing", "a-file", "a-folder", "/proc/x", "", "/dev/zero", "a-fifo", "o.png")
# Path kinds that must refuse an existing file / an existing folder (whatever else they accept).
NEEDS_FOLDER = ("dir", "new-dir", "new-image-dir")
NEEDS_FILE = ("file", "image", "config", "new-file", "new-image")


def _walk(parser: argparse.ArgumentParser, words: tuple[str, ...]):
    """``(command words, action)`` of every argument under ``parser``, subcommands included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*words, name))
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            yield words, action


def declared_arguments() -> tuple[list[tuple[tuple[str, ...], argparse.Action]], list[str]]:
    """Every argument of every subcommand once (stylize's per-method flags under ``--method M``),
    and the ones that carry no declaration."""
    from jaxstyle.cli import build_parser
    from jaxstyle.methods import METHODS

    found, seen, undeclared = [], set(), []
    for argv in [[], *(["stylize", "--method", m] for m in METHODS)]:
        for words, action in _walk(build_parser(argv), ()):
            if argv and words != ("stylize",):
                continue  # --method M adds its flags to restore too: tried under stylize
            if words == ("stylize",):
                words = tuple(argv) or words
            option = getattr(action, "option", None)
            name = "/".join(action.option_strings) or action.dest
            if option is None:
                undeclared.append(f"{words[0]} {name}")
                continue
            key = (words[0], name, repr(option))  # a flag many methods share is tried once
            if key not in seen:
                seen.add(key)
                found.append((words, action))
    return found, sorted(set(undeclared))


def test_every_argument_of_every_subcommand_is_declared():
    found, undeclared = declared_arguments()
    assert undeclared == []
    from jaxstyle.cli import SUBCOMMANDS

    assert {words[0] for words, _ in found} == set(SUBCOMMANDS)
    assert len(found) > 100


def test_every_number_option_has_a_lower_bound_and_every_integer_a_maximum():
    for words, action in declared_arguments()[0]:
        opt = action.option
        if opt.numeric:
            assert opt.minimum is not None or opt.exclusive_minimum is not None, (words, opt.name)
        if opt.type == "int":
            assert opt.maximum is not None, (words, opt.name)


def _number_value(opt: Option, value: str) -> str:
    if value == "huge":
        value = HUGE_INT if opt.type == "int" else "1e300"
    if opt.type == "mapping":
        return f"{(opt.choices or ('x',))[0]}={value}"
    return value


def _path_kind(opt: Option) -> str | None:
    """What a path option must name (``images`` are image files at the CLI)."""
    return "file" if opt.type == "images" else opt.path


def _must_refuse(opt: Option, case: str) -> bool:
    """What the declaration's kind alone says must be refused (the rest: whatever it declares)."""
    if opt.numeric:
        low = opt.minimum if opt.minimum is not None else opt.exclusive_minimum
        zero_out = (opt.minimum or 0) > 0 or (opt.exclusive_minimum is not None and opt.exclusive_minimum >= 0)
        return (case in ("nan", "inf", "abc") or (case == "huge" and (opt.type == "int" or opt.maximum is not None))
                or (case == "-1" and low is not None and low >= 0) or (case == "0" and zero_out))
    kind = _path_kind(opt)
    return (case in ("", "/proc/x", "no-match")
            or (case == "missing" and kind in INPUT_KINDS and kind != "input")
            or (case == "a-file" and kind in NEEDS_FOLDER)
            or (case == "a-folder" and kind in NEEDS_FILE)
            or (case in ("/dev/zero", "a-fifo") and kind in NEEDS_FILE)
            or (case == "o.png" and kind == "new-image-dir"))


def _cases(opt: Option, tmp: Path) -> list[tuple[str, str]]:
    """``(case, value)`` pairs to try on ``opt``."""
    if opt.numeric:
        return [(case, _number_value(opt, case)) for case in NUMBERS]
    if _path_kind(opt) is not None:
        where = {"missing": str(tmp / "missing" / "x.png"), "a-file": str(tmp / "a-file.png"),
                 "a-folder": str(tmp / "a-folder"), "a-fifo": str(tmp / "a-fifo")}
        return [(case, where.get(case, case)) for case in PATHS]
    if opt.choices is not None and opt.type in ("str", "names"):
        return [("not-a-choice", "not-a-choice")]
    if opt.pattern is not None:
        return [("no-match", "not a match!")]
    return []


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_every_refused_value_of_every_option_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, monkeypatch):
    (tmp_path / "a-file.png").write_bytes(b"not an image")
    (tmp_path / "a-folder").mkdir()
    os.mkfifo(tmp_path / "a-fifo")
    monkeypatch.chdir(tmp_path)  # relative outputs (o.png, outputs/) land here, if anywhere
    before = _tree(tmp_path)
    tried = 0
    for words, action in declared_arguments()[0]:
        opt = action.option
        label = argparse._get_action_name(action)
        for case, value in _cases(opt, tmp_path):
            try:
                opt.parse(value)
                refused = False
            except InputError:
                refused = True
            assert refused or not _must_refuse(opt, case), f"{' '.join(words)} {label} accepts {case} {value!r}"
            if not refused:
                continue  # accepted values would start the work: not run here
            argv = [*words, value] if opt.positional else [*words, opt.cli_flag, value]
            code, out, err = run_cli(argv, capsys)
            lines = err.strip().splitlines()
            context = f"jaxstyle {' '.join(argv)!r}: {err!r}"
            assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), context
            assert f"argument {label}:" in lines[0] and "Traceback" not in err and not out, context
            assert _tree(tmp_path) == before, context
            tried += 1
    assert tried > 400


# ------------------------------------------------------------------------------ the hostile run's cases


@pytest.fixture
def pair(images_dir) -> list[str]:
    return ["--content", str(images_dir / "content" / "golden_gate.jpg"),
            "--style", str(images_dir / "style" / "udnie.jpg")]


def _refused(args: list[str], capsys, expect: str) -> str:
    code, out, err = run_cli(args, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and expect in lines[0] and "Traceback" not in err, err
    return lines[0]


def test_train_workdir_that_is_a_file_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "wd").write_text("a file")
    _refused(["train", "--config", str(REPO / "configs/meanstd.py:tiny"), "--workdir", str(tmp_path / "wd")],
             capsys, "is a file, expected a folder")


def test_train_config_that_is_not_python_is_one_line(tmp_path, capsys):
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    _refused(["train", "--config", str(tmp_path / "photo.jpg"), "--workdir", str(tmp_path / "wd")], capsys,
             "not a Python config file")
    assert not (tmp_path / "wd").exists()


def test_load_config_of_a_file_that_is_not_python_is_one_line(tmp_path):
    from jaxstyle.config import load_config

    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.raises(InputError, match="not a Python config file"):
        load_config(str(tmp_path / "photo.jpg"))


HOSTILE = [  # (arguments, what the one line says): the hostile run's numbered cases 4, 5, 6, 8, 9, 11, 13, 14
    (["study", "init", "--seed", "-1"], "--seed: must be >= 0"),
    (["study", "init", "--seed", str(2**32)], "--seed: must be <= 4294967295"),
    (["stylize", "--seed", "-1"], "--seed: must be >= 0"),
    (["correspond", "--size", "100000"], "--size: must be <= 16384"),
    (["eval", "--batch-size", "0"], "--batch-size: must be >= 1"),
    (["stylize", "--num-processes", "0"], "--num-processes: must be >= 1"),
    (["train", "--num-devices", "0"], "--num-devices: must be >= 1"),
    (["train", "--num-processes", "0"], "--num-processes: must be >= 1"),
    (["stylize", "--lr", "0"], "--lr: must be > 0"),
    (["study", "optimizer", "--lr", "0"], "--lr: must be > 0"),
    (["stylize", "--output", ""], "--output: is empty"),
    (["demo", "--output", ""], "--output: is empty"),
    (["demo", "--output", "o.png"], "looks like a file name"),
    (["demo", "--output", "o.d"], "looks like a file name"),
    (["demo", "--output", "/proc/x/"], "cannot write there"),
    (["stylize", "--content", "/dev/zero"], "is a device"),
    (["study", "init", "--content", "/dev/zero"], "is a device"),
    (["weights", "import", "/dev/zero"], "is a device"),
]  # fmt: skip


@pytest.mark.parametrize("args, expect", HOSTILE, ids=[" ".join(a) for a, _ in HOSTILE])
def test_the_hostile_runs_bad_values_are_refused_while_parsing(args, expect, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _refused(args, capsys, expect)
    assert list(tmp_path.iterdir()) == []


def test_a_fifo_is_named_as_what_it_is(tmp_path, capsys):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    line = _refused(["correspond", "--content", str(fifo)], capsys, "is a FIFO (named pipe), expected a file")
    assert "no such file" not in line


@pytest.mark.parametrize("args", [
    ["stylize", "--output", "/proc/x.png"],
    ["stylize", "--checkpoint-dir", "/proc/x"],
    ["eval", "--json", "/proc/m.json"],
    ["correspond", "--sheet", "/proc/x.png"],
])  # fmt: skip
def test_unwritable_outputs_name_no_internal_temporary_file(args, capsys):
    line = _refused(args, capsys, "cannot write there")
    assert ".jaxstyle-probe" not in line and ".tmp" not in line and "/proc takes no new files" in line


def test_a_failed_atomic_write_names_the_target_not_its_temporary_file(tmp_path, monkeypatch):
    import tempfile

    from jaxstyle.files import write_bytes_atomic

    real = tempfile.mkstemp

    def full_disk_on_write(*args, **kwargs):
        fd, name = real(*args, **kwargs)
        os.close(fd)
        return os.open("/dev/full", os.O_WRONLY), name  # every write: ENOSPC

    monkeypatch.setattr(tempfile, "mkstemp", full_disk_on_write)
    with pytest.raises(OSError) as e:
        write_bytes_atomic(tmp_path / "x.png", b"data" * 10)
    assert e.value.filename == str(tmp_path / "x.png") and ".tmp" not in str(e.value)
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone too


@pytest.mark.parametrize("study, flag, value", [
    ("init", "--init", "noise"),
    ("layers", "--init", "style"),
    ("optimizer", "--optimizer", "adam"),
    ("network", "--encoder", "alexnet"),
    ("weights", "--style-weight", "10"),
    ("init", "--ratios", "1,2"),
    ("weights", "--lrs", "adam=0.1"),
])  # fmt: skip
def test_study_refuses_an_option_it_would_ignore(study, flag, value, pair, tmp_path, capsys):
    _refused(["study", study, *pair, "--output", str(tmp_path / "o"), flag, value], capsys, flag)
    assert not (tmp_path / "o").exists()


def test_study_option_defaults_are_the_librarys():
    from jaxstyle.cli.study import OPTIONS, RUN_FIELDS
    from jaxstyle.study import RunOptions, StudyOptions

    run, study = RunOptions(), StudyOptions()
    for opt in OPTIONS:
        if opt.default is not None:
            library = getattr(run if opt.name in RUN_FIELDS else study, opt.name)
            assert library == opt.default, opt.name


def test_weights_arch_choices_are_the_encoder_zoo():
    from jaxstyle.cli.weights import IMPORT
    from jaxstyle.weights.encoders import ENCODER_NAMES

    (arch,) = [o for o in IMPORT if o.name == "arch"]
    assert set(arch.choices) == set(ENCODER_NAMES)


HEAVY = ("jax", "flax", "optax", "orbax", "grain", "torch", "tensorflow", "gradio")
# One refused value per subcommand: the refusal happens while parsing, before anything heavy loads.
REFUSED = (["stylize", "--seed", "-1"], ["stylize", "--method", "cin", "--size", "0"], ["methods", "foo"],
           ["correspond", "--size", "100000"], ["demo", "--output", "o.png"], ["restore", "--output", ""],
           ["weights", "import", "/dev/zero"], ["data", "inspect", "x", "--grid-count", "0"],
           ["train", "--num-devices", "0"], ["eval", "--batch-size", "0"], ["ablate", "--steps", "0"],
           ["study", "init", "--seed", "-1"], ["serve", "--port", "0"],
           ["video", "in.mp4", "out.mp4", "--blend", "2"], ["bench", "--size", "0"])


def test_help_and_refused_options_of_every_command_load_no_jax():
    from jaxstyle.cli import SUBCOMMANDS

    assert {argv[0] for argv in REFUSED} == set(SUBCOMMANDS)
    code = ("import contextlib, io, sys; from jaxstyle.cli import build_parser, main, SUBCOMMANDS; "
            "build_parser([]); [build_parser([c, '--help']) for c in SUBCOMMANDS]\n"
            f"for argv in {REFUSED!r}:\n"
            "    with contextlib.suppress(SystemExit), contextlib.redirect_stderr(io.StringIO()) as err:\n"
            "        main(argv)\n"
            "    assert err.getvalue().startswith('error: argument'), (argv, err.getvalue())\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


class _Flat:
    """A stand-in stylizer: a grey image at once (the demo's writing is under test, not its methods)."""

    def stylize(self, contents, styles, size, **controls):
        import numpy as np

        return [np.full((size, size, 3), 0.5, np.float32) for _ in contents]


def test_demo_announces_each_file_as_it_lands_and_a_full_disk_is_one_line(tmp_path, capsys, monkeypatch):
    import errno

    import jaxstyle.demo
    import jaxstyle.io

    monkeypatch.setattr(jaxstyle.demo, "load_stylizer", lambda method, **options: _Flat())
    real = jaxstyle.io.write_bytes_atomic

    def full_after_gatys(path, data):
        if Path(path).name != "gatys.png":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(jaxstyle.io, "write_bytes_atomic", full_after_gatys)
    code, out, err = run_cli(["demo", "--output", str(tmp_path / "o"), "--size", "32", "--steps", "1"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "ghiasi.png" in lines[0] and "No space left" in lines[0], err
    assert f"wrote {tmp_path / 'o' / 'gatys.png'}" in out  # announced when it landed, before the failure
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["gatys.png"]


def test_demo_checks_every_output_before_computing(tmp_path, monkeypatch):
    import jaxstyle.demo

    def refuse(*args, **kwargs):
        raise AssertionError("a stylizer was loaded before the outputs were checked")

    monkeypatch.setattr(jaxstyle.demo, "load_stylizer", refuse)
    (tmp_path / "o" / "cin.png").mkdir(parents=True)  # a folder where a result goes
    with pytest.raises(InputError, match="cin.png: is a folder, expected a file"):
        jaxstyle.demo.three_families(tmp_path / "o", size=32, steps=1)
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="is a file, expected a folder"):
        jaxstyle.demo.three_families(tmp_path / "file", size=32, steps=1)
