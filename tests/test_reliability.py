"""Reliability: damaged checkpoints fall back, bad inputs are one line before any work, runs repeat.

Checkpoint damage comes in the three forms seen in the field: a truncated array data file
(``state/ocdbt.process_0/d/*``), an emptied ``state/_METADATA`` and an emptied iterator state
``data/process_0-of-1.json``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from jaxstyle.errors import InputError

REPO = Path(__file__).resolve().parents[1]


def _damage(step_dir: Path, how: str) -> None:
    """Damage one checkpoint step directory in place."""
    if how == "truncated_data":
        # Array bytes live in ocdbt.process_0/d/ and, once orbax has merged a step's
        # per-process databases, in state/d/: truncate the largest data file either way.
        files = [*(step_dir / "state").glob("ocdbt.process_0/d/*"), *(step_dir / "state").glob("d/*")]
        os.truncate(max(files, key=lambda p: p.stat().st_size), 10)
    elif how == "empty_metadata":
        (step_dir / "state" / "_METADATA").write_text("")
    elif how == "empty_data_state":
        (step_dir / "data" / "process_0-of-1.json").write_text("")
    elif how == "empty_step_metadata":  # read by orbax's manager when it lists the steps
        (step_dir / "_CHECKPOINT_METADATA").write_text("")
    else:
        raise ValueError(how)


DAMAGES = ("truncated_data", "empty_metadata", "empty_data_state")


def _train_cfg(images_dir: Path, steps: int, *extra: str):
    from jaxstyle.config import load_config

    return load_config(str(REPO / "configs/meanstd.py:tiny"), [
        f"--config.data.content_dir={images_dir / 'content'}",
        f"--config.data.style_dir={images_dir / 'style'}",
        f"--config.train.steps={steps}", "--config.train.checkpoint_every=1",
        "--config.train.sample_every=0", "--config.train.keep_checkpoints=3", *extra,
    ])  # fmt: skip


@pytest.fixture(scope="module")
def meanstd_run(tmp_path_factory, images_dir):
    """A 3-step tiny meanstd training run with a checkpoint per step (steps 1, 2, 3)."""
    from jaxstyle.train import train

    workdir = tmp_path_factory.mktemp("meanstd")
    train(_train_cfg(images_dir, 3), workdir)
    return workdir


@pytest.fixture(scope="module")
def meanstd_run_5(tmp_path_factory, images_dir):
    """The same training run for 5 steps, uninterrupted: what a resumed run must end as."""
    from jaxstyle.train import train

    workdir = tmp_path_factory.mktemp("meanstd5")
    train(_train_cfg(images_dir, 5), workdir)
    return workdir


def _losses(workdir: Path) -> list[dict]:
    """Per logged step, its loss terms (throughput figures left out)."""
    from jaxstyle.train_log import read_metrics

    return [{k: v for k, v in r.items() if k == "step" or k.startswith("loss")} for r in read_metrics(workdir)]


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _abstract_state(workdir: Path):
    """What the trainer passes to restore: the shapes of a step's state."""
    import jax

    from jaxstyle.checkpoint import load_checkpoint_params

    params, _ = load_checkpoint_params(workdir / "checkpoints" / "1")
    import optax

    opt = {"transform": optax.adam(1e-2).init(params["transform"])}
    return {"params": params, "opt_states": opt, "step": np.int32(0), "rng": jax.random.key(0)}


@pytest.mark.parametrize("how", [*DAMAGES, "empty_step_metadata"])
def test_damaged_newest_checkpoint_falls_back_with_one_line_and_is_moved_aside(meanstd_run, tmp_path, how, capfd):
    from jaxstyle.checkpoint import Checkpointer

    workdir = _copy(meanstd_run, tmp_path / "run")
    _damage(workdir / "checkpoints" / "3", how)
    ckpt = Checkpointer(workdir, keep=3, async_save=False)
    try:
        step, state, data = ckpt.restore_latest(_abstract_state(workdir))
        assert step == 2 and int(state["step"]) == 2 and data is not None
        err = capfd.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("warning: unreadable checkpoint") and "checkpoints/3" in err[0]
        assert "falling back to step 2" in err[0]
        # Moved aside: it neither counts towards keep nor blocks re-saving step 3.
        assert ckpt.latest_step() == 2 and (workdir / "checkpoints.unreadable" / "3").is_dir()
    finally:
        ckpt.close()


@pytest.mark.parametrize("how", DAMAGES[:2])  # the iterator state is not part of a stylizer
def test_stylizer_from_workdir_with_damaged_newest_step_uses_the_previous(meanstd_run, tmp_path, how, capfd):
    from jaxstyle.checkpoint import load_checkpoint_params, load_method_checkpoint

    workdir = _copy(meanstd_run, tmp_path / "run")
    want, _ = load_checkpoint_params(workdir / "checkpoints" / "2")
    _damage(workdir / "checkpoints" / "3", how)
    capfd.readouterr()
    got, config = load_method_checkpoint(workdir, "meanstd")
    assert config["method"] == "meanstd"
    import jax

    jax.tree.map(np.testing.assert_array_equal, got, want)
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoints/3" in err[0] and "falling back to step 2" in err[0], err
    assert (workdir / "checkpoints" / "3").is_dir()  # a reader never moves anything


def test_no_readable_checkpoint_is_one_line_exit_2(meanstd_run, tmp_path):
    workdir = _copy(meanstd_run, tmp_path / "run")
    for step in (1, 2, 3):
        _damage(workdir / "checkpoints" / str(step), "truncated_data")
    proc = subprocess.run(
        [sys.executable, "-m", "jaxstyle", "stylize", "--method", "meanstd", "--checkpoint", str(workdir),
         "--output", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no readable checkpoint"), lines
    assert not (tmp_path / "out").exists()


def test_training_resumes_from_previous_step_after_damage_and_matches_uninterrupted(
    meanstd_run, meanstd_run_5, tmp_path, images_dir, capfd
):
    """Damaged newest step, resume, keep=3 cleanup: the run ends like an uninterrupted one
    (every logged loss and the final parameters bit for bit), metrics.jsonl has each step
    once, and good checkpoints remain."""
    from conftest import assert_bitwise_equal, one_ulp_off

    from jaxstyle.checkpoint import load_checkpoint_params
    from jaxstyle.train import train
    from jaxstyle.train_log import read_metrics

    workdir = _copy(meanstd_run, tmp_path / "run")
    _damage(workdir / "checkpoints" / "3", "truncated_data")
    capfd.readouterr()
    train(_train_cfg(images_dir, 5), workdir)
    out = capfd.readouterr()
    assert "resumed from" in out.out and "(step 2)" in out.out
    assert len(out.err.strip().splitlines()) == 1, out.err
    steps = [r["step"] for r in read_metrics(workdir)]
    assert steps == [1, 2, 3, 4, 5]  # step 3 logged once although the first run logged it too
    # Steps 1-2 are the first run's lines; 3 (recomputed), 4 and 5 (new) equal the
    # uninterrupted run's, every term, bit for bit.
    assert _losses(workdir) == _losses(meanstd_run_5) and all(np.isfinite(r["loss"]) for r in _losses(workdir))
    got, _ = load_checkpoint_params(workdir)
    want, _ = load_checkpoint_params(meanstd_run_5)
    assert_bitwise_equal(got, want)
    with pytest.raises(AssertionError):  # the check sees a parameter one float step off
        assert_bitwise_equal(one_ulp_off(got), want)
    kept = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    assert kept == [3, 4, 5]


@pytest.mark.parametrize("how", DAMAGES[:2])  # an optimization checkpoint has no iterator state
def test_optimization_resume_falls_back_past_a_damaged_step_and_ends_identically(tmp_path, how, capfd):
    """``stylize --checkpoint-dir``'s engine: a damaged newest step is reported in one line,
    the run resumes from the previous step and ends bit-identical to an uninterrupted run."""
    from jaxstyle.optimize import EngineConfig, make_pairs, optimize_pairs

    rng = np.random.default_rng(0)
    pairs = make_pairs([rng.random((32, 32, 3), np.float32)], [rng.random((32, 32, 3), np.float32)])
    settings = EngineConfig(size=32, steps=6, chunk=2, optimizer="adam", init="noise")
    reference = optimize_pairs(_Pull(), pairs, settings)[0].image
    first = optimize_pairs(_Pull(), pairs, settings, checkpoint_dir=tmp_path, checkpoint_every=2)[0].image
    (bucket,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert sorted(int(p.name) for p in bucket.iterdir() if p.name.isdigit()) == [4, 6]  # keep=2
    item = bucket / "6" / "default"
    if how == "truncated_data":
        files = [*item.glob("ocdbt.process_0/d/*"), *item.glob("d/*")]
        os.truncate(max(files, key=lambda p: p.stat().st_size), 10)
    else:
        (item / "_METADATA").write_text("")
    capfd.readouterr()
    seen = []
    again = optimize_pairs(_Pull(), pairs, settings, checkpoint_dir=tmp_path, checkpoint_every=2,
                           progress=lambda s, _: seen.append(s))[0].image
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "/6 (" in err[0] and "falling back to step 4" in err[0], err
    assert seen[0] == 6  # resumed at step 4, ran steps 5-6 again
    np.testing.assert_array_equal(first, reference)
    np.testing.assert_array_equal(again, reference)


class _Pull:
    """The cheapest objective: the image pulled towards the content (no network)."""

    extra_inputs = ()

    def __hash__(self):
        return 0

    def __eq__(self, other):
        return isinstance(other, _Pull)

    def __repr__(self):
        return "_Pull()"

    def frozen(self):
        return None

    def prepare(self, frozen, inputs):
        return {"content": inputs["content"]}

    def init(self, inputs, rng, image):
        return {"image": image}

    def loss(self, variables, targets, frozen):
        import jax.numpy as jnp

        mse = jnp.mean(jnp.square(variables["image"] - targets["content"]))
        return mse, {"content": mse}

    def image(self, variables):
        return variables["image"]


# ------------------------------------------------------------------------------ inputs


TINY = ["--size", "32", "--steps", "2", "--optimizer", "adam", "--style-layers", "relu1_1"]


@pytest.fixture
def no_loading(monkeypatch):
    """Loading a stylizer fails the test: the input must be refused before any work."""
    import jaxstyle.methods

    def refuse(*args, **kwargs):
        raise AssertionError("the stylizer was loaded: the input was not checked first")

    monkeypatch.setattr(jaxstyle.methods, "load_stylizer", refuse)


@pytest.mark.parametrize("bad, expect", [
    (["--content-weight", "nan"], "--content-weight"),
    (["--content-weight", "inf"], "--content-weight"),
    (["--style-weight", "-inf"], "--style-weight"),
    (["--tv-weight", "nan"], "--tv-weight"),
    (["--lr", "nan"], "--lr"),
    (["--size", "100000"], "--size"),
    (["--output", "/proc/x.png"], "/proc/x.png"),
    (["--output", "{file}/x.png"], "not a folder"),
    (["--output", "{tmp}/out.bmp"], ".bmp"),
    (["--output", "{tmp}/out.xyz"], ".xyz"),
])  # fmt: skip
def test_bad_values_and_output_paths_are_refused_before_any_work(bad, expect, tmp_path, capsys, no_loading):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    args = [a.format(file=blocker, tmp=tmp_path) for a in bad]
    code, _, err = run_cli(["stylize", *TINY, "--output", str(tmp_path / "out"), *args], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and expect in lines[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing written


@pytest.mark.parametrize("bad, expect", [
    (["--content-layers", ""], "--content-layers"),
    (["--scales", "5", "--size", "64"], "at most 2"),
])  # fmt: skip
def test_layers_and_scales_that_cannot_run_are_refused(bad, expect, tmp_path, capsys):
    code, _, err = run_cli(["stylize", *TINY, "--output", str(tmp_path / "out"), *bad], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and expect in lines[0], err
    assert not (tmp_path / "out").exists()


def test_library_configs_refuse_non_finite_numbers():
    from jaxstyle.optimize import EngineConfig, StylizeConfig

    for kwargs in ({"lr": float("nan")}, {"lr": float("inf")}):
        with pytest.raises(InputError, match="--lr must be a finite number"):
            EngineConfig(**kwargs)
    for name in ("content_weight", "style_weight", "tv_weight", "lap_weight"):
        with pytest.raises(InputError, match="finite"):
            StylizeConfig(**{name: float("nan")})
    with pytest.raises(InputError, match="at most 2"):
        EngineConfig(size=64, scales=20)


def test_non_finite_loss_during_an_optimization_stops_with_one_line_naming_the_term():
    from jaxstyle.optimize import EngineConfig, make_pairs, optimize_pairs
    from jaxstyle.optimize.engine import OptimizationDiverged

    rng = np.random.default_rng(0)
    pairs = make_pairs([rng.random((32, 32, 3), np.float32)], [rng.random((32, 32, 3), np.float32)])
    settings = EngineConfig(size=32, steps=40, chunk=2, optimizer="sgd", lr=1e30, init="noise")  # overflows
    with pytest.raises(OptimizationDiverged, match=r"non-finite loss at step 2 \(content=") as e:
        optimize_pairs(_Pull(), pairs, settings)
    assert "\n" not in str(e.value)


def _vgg16_state(nan: bool) -> dict[str, np.ndarray]:
    """A torchvision-layout VGG16 ``features`` state_dict (random), optionally with one NaN."""
    from jaxstyle.models.vgg import conv_names, param_shapes
    from jaxstyle.weights.importers import TORCHVISION_CONV_INDICES

    rng = np.random.default_rng(0)
    shapes = param_shapes("vgg16")
    state = {}
    for index, layer in zip(TORCHVISION_CONV_INDICES["vgg16"], conv_names("vgg16"), strict=True):
        kh, kw, cin, cout = shapes[layer]["kernel"]
        state[f"features.{index}.weight"] = rng.normal(0, 0.05, (cout, cin, kh, kw)).astype(np.float32)
        state[f"features.{index}.bias"] = np.zeros(cout, np.float32)
    if nan:
        state["features.28.weight"][0, 0, 0, 0] = np.nan
    return state


def test_weights_import_refuses_non_finite_tensors(tmp_path, capsys):
    from safetensors.numpy import save_file

    from jaxstyle.errors import WeightsError
    from jaxstyle.weights.importers import read_state_dict

    bad = tmp_path / "vgg16_nan.safetensors"
    save_file(_vgg16_state(nan=True), str(bad))
    code, out, err = run_cli(["weights", "import", str(bad), "--name", "nanvgg"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "conv5_3.kernel" in lines[0] and "non-finite" in lines[0], err
    assert "wrote" not in out
    with pytest.raises(WeightsError, match="non-finite"):  # the state_dict importers' shared reader
        read_state_dict(bad, "AdaIN decoder")
    good = tmp_path / "vgg16.safetensors"
    save_file(_vgg16_state(nan=False), str(good))
    assert read_state_dict(good, "test")["features.0.weight"].shape == (64, 3, 3, 3)


@pytest.mark.parametrize("init_from", ["file", "/nonexistent"])
def test_train_init_from_bad_path_is_one_line_and_writes_nothing(init_from, tmp_path, images_dir):
    from jaxstyle.train import train

    (tmp_path / "file").write_text("not a checkpoint")
    source = tmp_path / "file" if init_from == "file" else init_from
    with pytest.raises(InputError) as e:
        train(_train_cfg(images_dir, 3), tmp_path / "run", init_from=source)
    assert "\n" not in str(e.value) and str(source) in str(e.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("override, expect", [
    ("--config.train.steps=-3", "train.steps must be positive"),
    ("--config.loss.content=nan", "loss.content must be a finite number"),
    ("--config.loss.style=inf", "loss.style must be a finite number"),
    ("--config.optim.lr=nan", "optim.lr must be a finite number"),
    ("--config.optim.lr=-1", "optim.lr must be >= 0"),
    ("--config.seed=-1", "--config.seed must be an integer >= 0"),  # numpy's seeding raised after the mesh
])  # fmt: skip
def test_train_config_that_cannot_run_is_refused_before_the_workdir(override, expect, tmp_path, images_dir):
    from jaxstyle.train import train

    with pytest.raises(InputError, match=expect):
        train(_train_cfg(images_dir, 3, override), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_eval_json_into_unwritable_path_is_refused_before_computing(tmp_path, capsys, no_loading):
    (tmp_path / "file").write_text("a file")
    code, _, err = run_cli(["eval", "--method", "adain", "--checkpoint", str(tmp_path), "--content", str(tmp_path),
                         "--style", str(tmp_path), "--json", str(tmp_path / "file" / "m.json"),
                         "--out", str(tmp_path / "out")], capsys)  # fmt: skip
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "--json" in lines[0] and "not a folder" in lines[0], err
    assert not (tmp_path / "out").exists()


def test_disk_full_while_writing_the_sheet_reports_what_was_written(meanstd_run, tmp_path, capsys, monkeypatch):
    """The result lands and is reported (`wrote`), the sheet fails whole: one error line, exit 2,
    no partial or temporary file left."""
    import errno

    import jaxstyle.io

    real = jaxstyle.io.write_bytes_atomic

    def disk_full_for_sheets(path, data):
        if "_sheet" in Path(path).name:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(jaxstyle.io, "write_bytes_atomic", disk_full_for_sheets)
    out = tmp_path / "out"
    code, stdout, err = run_cli(["stylize", "--method", "meanstd", "--checkpoint", str(meanstd_run),
                              "--size", "32", "--output", str(out)], capsys)  # fmt: skip
    lines = [ln for ln in err.strip().splitlines() if "pairs [" not in ln]  # (tqdm's progress bar)
    assert code == 2 and len(lines) == 1 and "No space left" in lines[0], err
    assert "Traceback" not in err
    (result,) = out.iterdir()
    assert f"wrote {result}" in stdout and "_sheet" not in result.name


# ------------------------------------------------------------------------------ remote workdirs


@pytest.fixture
def memory_bucket(monkeypatch, tmp_path):
    """``gs://`` served by fsspec's in-memory file system (offline), through etils.epath's own
    fsspec backend; the working directory and temp dir are ``tmp_path`` to see stray files."""
    import tempfile

    import fsspec
    from etils.epath import backend

    memory = fsspec.filesystem("memory")
    monkeypatch.setattr(backend._FileSystemSpecBackend, "fs", lambda self, path: memory)
    monkeypatch.setenv("EPATH_USE_TF", "0")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    yield memory
    memory.store.clear()
    memory.pseudo_dirs.clear()


def test_trainer_files_go_to_a_bucket_workdir_not_a_local_folder(memory_bucket, tmp_path, capsys):
    from etils import epath

    from jaxstyle.checkpoint import as_path
    from jaxstyle.train_log import MetricsLogger, read_metrics, workdir_path

    workdir = workdir_path("gs://bucket/runs/adain")
    assert str(workdir) == "gs://bucket/runs/adain"
    logger = MetricsLogger(workdir, enabled=True)
    logger.scalars(1, {"loss": 2.0})
    logger.scalars(2, {"loss": 1.0})
    logger.image(2, "samples", np.zeros((8, 16, 3), np.float32))
    logger.close()
    assert "TensorBoard events go to the local folder" in capsys.readouterr().out
    # A resumed run (checkpoint at step 1) drops step 2 and logs it again.
    logger = MetricsLogger("gs://bucket/runs/adain", enabled=True)
    logger.resume_at(1)
    logger.scalars(2, {"loss": 0.5})
    logger.close()
    assert read_metrics("gs://bucket/runs/adain") == [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 0.5}]
    png = epath.Path("gs://bucket/runs/adain/samples/samples_00000002.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert str(as_path(workdir) / "checkpoints") == "gs://bucket/runs/adain/checkpoints"  # orbax gets the URI
    assert not any(p.name == "gs:" for p in tmp_path.rglob("*"))  # the old bug: a local folder "gs:"
    assert any((tmp_path / "tmp" / "jaxstyle_tb").rglob("events.out.tfevents.*"))


# ------------------------------------------------------------------------------ determinism


def test_training_twice_is_bit_identical_on_cpu(meanstd_run, tmp_path, images_dir):
    """The same config and data twice (two compilations): every logged loss and every
    parameter equal bit for bit."""
    from conftest import assert_bitwise_equal

    from jaxstyle.checkpoint import load_checkpoint_params
    from jaxstyle.train import train

    train(_train_cfg(images_dir, 3), tmp_path / "again")
    assert _losses(tmp_path / "again") == _losses(meanstd_run) and len(_losses(meanstd_run)) == 3
    got, _ = load_checkpoint_params(tmp_path / "again")
    want, _ = load_checkpoint_params(meanstd_run)
    assert_bitwise_equal(got, want)


# The default suite's run stops the encoder at relu1_2 (a compile of seconds); the slow one
# runs TINY's layers (relu4_2 content: most of VGG16).
@pytest.mark.parametrize("layers", [["--style-layers", "relu1_1", "--content-layers", "relu1_2"],
                                    pytest.param([], marks=pytest.mark.slow)], ids=["shallow", "relu4_2"])
def test_stylize_twice_is_bit_identical_on_cpu(tmp_path, layers):
    """`jaxstyle stylize` (gatys, noise start: the seed matters) run twice in fresh processes
    writes the same bytes; another seed writes other bytes (the check can fail)."""
    outputs = []
    for k, seed in enumerate((3, 3, 4)):
        out = tmp_path / f"run{k}.png"
        proc = subprocess.run(
            [sys.executable, "-m", "jaxstyle", "stylize", *TINY, *layers, "--init", "noise", "--seed", str(seed),
             "--no-sheet", "--output", str(out)],
            capture_output=True, text=True, cwd=REPO, timeout=600,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] and outputs[0] != outputs[2]


# ------------------------------------------------------------------------------ multi-process


def _running_commands(tmp_path, images_dir) -> dict[str, tuple[list[str], object]]:
    """Per command, a long multi-process run (argv without the coordinator flags) and a
    predicate saying that both processes are past compilation, in their loops."""
    train = ["train", "--config", str(REPO / "configs/meanstd.py:tiny"), "--workdir", str(tmp_path / "run"),
             f"--config.data.content_dir={images_dir / 'content'}", f"--config.data.style_dir={images_dir / 'style'}",
             "--config.train.steps=100000", "--config.train.sample_every=0", "--config.train.checkpoint_every=1000"]  # fmt: skip
    metrics = tmp_path / "run" / "metrics.jsonl"
    # Two pairs, one per process; each process writes its own pair's frames.
    stylize = ["stylize", *TINY[:2], "--steps", "100000", *TINY[4:], "--content", "sample:chelsea", "sample:coffee",
               "--style", "sample:starry_night", "--save-every", "1", "--no-sheet", "--output", str(tmp_path / "out")]  # fmt: skip
    frames = tmp_path / "out" / "frames"
    return {
        "train": (train, lambda: metrics.exists() and metrics.read_text().count("\n") >= 2),
        "stylize": (stylize, lambda: frames.is_dir() and {f.name.split("__")[0] for f in frames.iterdir()} == {"chelsea", "coffee"}),
    }


@pytest.mark.slow
@pytest.mark.parametrize("command", ["train", "stylize"])
def test_survivor_of_a_killed_process_stops_with_one_line(tmp_path, images_dir, command):
    """Two processes over 127.0.0.1; process 1 is killed (-9) mid-run. Process 0 stops within
    the watchdog's timeout, 10 s here (not JAX's 100 s heartbeat and C++ abort): one line, exit 3.
    tests/test_watchdog.py times the watchdog alone in the default suite."""
    import signal
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv, running = _running_commands(tmp_path, images_dir)[command]
    procs = []
    for rank in range(2):
        cmd = [sys.executable, "-m", "jaxstyle", *argv,
               "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(rank)]  # fmt: skip
        env = {**os.environ, "JAXSTYLE_PEER_TIMEOUT": "10", "XLA_FLAGS": ""}  # the default 30 s, shortened
        procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not running():
            assert all(p.poll() is None for p in procs), procs[0].stderr.read()[-2000:]
            time.sleep(0.2)
        procs[1].send_signal(signal.SIGKILL)
        killed_at = time.time()
        _, err = procs[0].communicate(timeout=90)
        waited = time.time() - killed_at
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    # tqdm's bar (stylize) ends with carriage returns, not lines: only real lines count.
    lines = [line for line in err.strip().splitlines() if line.startswith("error:") or "Traceback" in line]
    assert procs[0].returncode == 3, err[-3000:]
    # Either the watchdog saw the silence first, or the step's all-reduce failed on the closed
    # connection: one line either way.
    assert len(lines) == 1 and "stopping this process too" in lines[0], err[-3000:]
    if "process 1 of 2 stopped (no sign of life for 10 s)" in lines[0]:  # the watchdog spoke
        assert 9 <= waited <= 10 + 2 + 8, waited  # 10 s, two 1 s beats, a loaded machine's slack
    else:  # the step's collective failed first, before the watchdog's timeout
        assert "another process probably died" in lines[0], lines[0]
        assert waited <= 10 + 8, waited


@pytest.mark.slow  # two interpreters + gloo, twice: ~2 min on the shared 2-core box
def test_two_processes_fall_back_together_past_a_damaged_step(tmp_path, images_dir):
    """Both processes of a resumed run agree on the fallback step (an all-gather of "readable?")."""
    import json as json_lib

    workdir = tmp_path / "run"

    def run(steps: int) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(REPO / "launch/local.sh"), "2", "--config", str(REPO / "configs/meanstd.py:tiny"),
             "--workdir", str(workdir), f"--config.data.content_dir={images_dir / 'content'}",
             f"--config.data.style_dir={images_dir / 'style'}", f"--config.train.steps={steps}",
             "--config.train.checkpoint_every=1", "--config.train.sample_every=0"],
            capture_output=True, text=True, cwd=REPO, timeout=600, env={**os.environ, "PYTHON": sys.executable},
        )  # fmt: skip

    first = run(3)
    assert first.returncode == 0, first.stderr[-3000:]
    step = workdir / "checkpoints" / "3" / "state"
    files = [*step.glob("ocdbt.process_*/d/*"), *step.glob("d/*")]
    os.truncate(max(files, key=lambda p: p.stat().st_size), 10)
    second = run(5)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stderr.count("warning: unreadable checkpoint") == 1  # process 0 speaks for both
    assert second.stdout.count("resumed from") == 1 and "(step 2)" in second.stdout
    steps = [json_lib.loads(line)["step"] for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5]
