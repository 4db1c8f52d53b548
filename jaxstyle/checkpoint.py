"""Training checkpoints: an orbax ``CheckpointManager`` over one composite item per step.

A checkpoint ``WORKDIR/checkpoints/<step>/`` holds three items:

- ``state``: ``{"params", "opt_states", "step", "rng"}`` (jax arrays, saved asynchronously;
  ``rng`` as raw key data so any PRNG implementation round-trips),
- ``data``: every process's input-iterator state, one JSON file per process
  (``process_<i>-of-<n>.json``, grain's convention), captured when ``save`` is called,
- ``config``: the run config as JSON, so a checkpoint alone is enough for test-time use.

Orbax writes into a temporary directory and renames it when every item is complete, so a
killed run never leaves a half-written step that resume would pick (it cleans such debris up).
Resume order (see :func:`jaxstyle.train.train`): latest checkpoint in the workdir >
``--init-from`` > scratch.

A committed step can still be damaged afterwards (a truncated array file, an emptied
``_METADATA`` or iterator-state file: disks, copies, quotas). Every reader here restores the
newest step it *can read*: an unreadable step is named in one ``warning:`` line on stderr and
the previous one is tried; when none is readable, a one-line :class:`InputError` (exit 2).
A trainer or optimization run that falls back moves the unreadable steps aside, to
``<checkpoints>.unreadable/<step>`` (kept for inspection, never deleted): left in place they
would count towards ``max_to_keep``, so cleanup could delete the last good step while keeping
damaged ones, and re-saving their step numbers would fail.

A save that fails (a full disk, a quota, permissions) raises :class:`CheckpointWriteError`: one
line naming the step and the cause. Saves are asynchronous, so the failure of step N may surface
while step N+1 is being saved or at :meth:`~_Steps.close`; the error still names step N. Its
temporary folder (``<step>.orbax-checkpoint-tmp*``) is removed at once (so a full disk gets its
space back) and the committed steps stay as they were, the newest of them loadable.

Directories are :class:`etils.epath.Path`: a workdir may be ``gs://bucket/run`` on a pod.

:class:`PytreeCheckpointer` is the same machinery for state that is one plain pytree of arrays
(the optimization engine's per-bucket variables and optimizer state).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath

from jaxstyle.errors import InputError, JaxstyleError, first_line

T = TypeVar("T")


class CheckpointWriteError(JaxstyleError):
    """A checkpoint could not be written (disk full, quota, permissions); the committed ones are kept."""


class _QuietStepMetadata(logging.Filter):
    """Drops orbax's absl log lines about a missing or unparsable metadata file: a valid
    stylizer load used to print "Metadata file does not exist", and a damaged step is
    reported here in one line of our own (the reader falls back)."""

    _PREFIXES = ("Metadata file does not exist", "Failed to json parse Metadata file", "Failed to read Metadata file")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self._PREFIXES)


class _QuietFailedSave(logging.Filter):
    """Drops orbax's ERROR records (with their tracebacks) about a failed background save: the
    same exception is raised again in the main thread, where it becomes one line
    (:class:`CheckpointWriteError`). A full disk printed ~450 lines of them."""

    _MARKS = ("in background save thread", "Save Finalize thread", "_SignalingThread.run() raised")

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno >= logging.ERROR and any(m in str(record.msg) for m in self._MARKS))


for _filter in (_QuietStepMetadata(), _QuietFailedSave()):
    logging.getLogger("absl").addFilter(_filter)  # orbax logs through absl's logger

CHECKPOINT_SUBDIR = "checkpoints"


class IteratorStateHandler(ocp.AsyncCheckpointHandler):
    """Saves a captured iterator state (a JSON-able object) per process.

    Asynchronous like orbax's own handlers: its write runs with theirs, so a failing write (a
    full disk) goes the way theirs do, never leaving their started writes un-awaited.
    """

    async def async_save(self, directory: epath.Path, args: IteratorStateSave) -> list[ocp.future.Future]:
        index, count = jax.process_index(), jax.process_count()
        path, text = directory / f"process_{index}-of-{count}.json", json.dumps(args.state)

        async def write() -> None:
            self.write(path, text)

        return [ocp.future.CommitFutureAwaitingContractedSignals(write(), name="iterator_state_save")]

    def save(self, directory: epath.Path, args: IteratorStateSave):
        index, count = jax.process_index(), jax.process_count()
        self.write(directory / f"process_{index}-of-{count}.json", json.dumps(args.state))

    @staticmethod
    def write(path: epath.Path, text: str) -> None:
        path.write_text(text)

    def restore(self, directory: epath.Path, args: IteratorStateRestore | None = None) -> Any:
        index, count = jax.process_index(), jax.process_count()
        path = directory / f"process_{index}-of-{count}.json"
        if not path.exists():
            found = sorted(p.name for p in directory.iterdir())
            raise InputError(
                f"{directory}: no input state for process {index} of {count} (found {found}); "
                "resume with the same number of processes"
            )
        return json.loads(path.read_text())

    def structure(self, directory: epath.Path) -> Any:  # required by the interface
        return None

    def metadata(self, directory: epath.Path) -> Any:
        return None

    def finalize(self, directory: epath.Path) -> None:
        pass

    def close(self) -> None:
        pass


@ocp.args.register_with_handler(IteratorStateHandler, for_save=True)
@dataclasses.dataclass
class IteratorStateSave(ocp.args.CheckpointArgs):
    state: Any


@ocp.args.register_with_handler(IteratorStateHandler, for_restore=True)
@dataclasses.dataclass
class IteratorStateRestore(ocp.args.CheckpointArgs):
    pass


def _options(keep: int | None, async_save: bool) -> ocp.CheckpointManagerOptions:
    return ocp.CheckpointManagerOptions(
        max_to_keep=keep,
        enable_async_checkpointing=async_save,
        create=True,
        cleanup_tmp_directories=True,  # debris of a killed save is removed, never restored
    )


def as_path(path: str | Path | epath.Path) -> epath.Path:
    """``path`` as an absolute :class:`etils.epath.Path` (``gs://...`` stays a URI)."""
    path = epath.Path(path)
    return path if str(path).startswith(("gs://", "s3://", "az://", "hf://")) else path.absolute()


def _manager(directory: epath.Path, keep: int | None = None, async_save: bool = True) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(
        directory,
        options=_options(keep, async_save),
        item_handlers={
            "state": ocp.StandardCheckpointHandler(),
            "data": IteratorStateHandler(),
            "config": ocp.JsonCheckpointHandler(),
        },
    )



def _short(err: BaseException, limit: int = 160) -> str:
    """The first line of ``err`` cut to ``limit`` characters (tensorstore's run to pages)."""
    text = first_line(err)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def warn(message: str) -> None:
    """One ``warning:`` line on stderr (main process only)."""
    if jax.process_index() == 0:
        print(f"warning: {message}", file=sys.stderr, flush=True)


def _all_processes_agree(ok: bool) -> bool:
    """True when ``ok`` holds on every process (a collective in multi-process runs): all
    processes must fall back to the same step, or they would train from different states."""
    if jax.process_count() == 1:
        return ok
    from jax.experimental import multihost_utils

    return bool(np.all(multihost_utils.process_allgather(np.int32(ok))))


_JSON_NAMES = ("_METADATA", "_CHECKPOINT_METADATA", "metadata")


def verify_step(step_dir: epath.Path, window: int = 64) -> None:
    """Check one step directory: its JSON files parse and its array stores read in full.

    Raises ValueError naming the damaged file. The JSON check only gives the message a file
    name (orbax would fail on them too); the array check is what keeps a failed read quiet.
    """
    for item in [step_dir, *(p for p in step_dir.iterdir() if p.is_dir())]:
        for path in item.iterdir():
            if path.name in _JSON_NAMES or path.name.endswith(".json"):
                try:
                    json.loads(path.read_text())
                except ValueError as e:
                    raise ValueError(f"{path.relative_to(step_dir)}: not valid JSON ({e})") from None
    verify_arrays(step_dir, window)


def verify_arrays(step_dir: epath.Path, window: int = 64) -> None:
    """Read every byte of the array stores (OCDBT databases) of one step; raises on damage.

    Orbax reads arrays concurrently on an asyncio loop: when one read fails it closes the
    loop while tensorstore still completes the others, whose callbacks then print "Event loop
    is closed" tracebacks (and "sys.meta_path is None" at exit). Reading the raw values first,
    synchronously and ``window`` at a time, finds a truncated or missing data file without
    any of that; it costs one extra read of the step, once per resume.
    """
    import tensorstore as ts

    for item in step_dir.iterdir():
        if not (item / "manifest.ocdbt").exists():
            continue
        url = str(item) if "://" in str(item) else f"file://{item}"
        store = ts.KvStore.open({"driver": "ocdbt", "base": url.rstrip("/") + "/"}).result()
        keys = store.list().result()
        for start in range(0, len(keys), window):
            reads = [store.read(key) for key in keys[start : start + window]]
            for key, read in zip(keys[start : start + window], reads, strict=True):
                try:
                    read.result()
                except Exception as e:  # noqa: BLE001 - reported as damage to this item
                    raise ValueError(f"{item.name}/{key.decode(errors='replace')}: {first_line(e)}") from None


def restore_newest_readable(
    steps: Sequence[int], restore: Callable[[int], T], where: Callable[[int], Any], note: str = ""
) -> tuple[int, T, list[int]]:
    """``(step, restore(step), unreadable_steps)`` for the newest of ``steps`` that restores.

    An exception from ``restore`` (anything but :class:`InputError`, which is the user's
    mistake, not damage) marks the step unreadable; one warning line names the unreadable
    steps and the step used (then ``note``). Raises a one-line InputError when none restores.
    """
    bad: list[tuple[int, str]] = []
    for step in sorted(steps, reverse=True):
        try:
            out, reason = restore(step), ""
        except InputError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure to read is damage to report
            out, reason = None, _short(e)
        if _all_processes_agree(not reason):
            if bad:
                names = ", ".join(f"{where(s)} ({r})" for s, r in bad)
                warn(f"unreadable checkpoint {names}; falling back to step {step}{note}")
            return step, out, [s for s, _ in bad]
        bad.append((step, reason or "unreadable on another process"))
    names = "; ".join(f"{where(s)}: {r}" for s, r in bad)
    raise InputError(f"no readable checkpoint: {names}")


def _aside_note(directory: epath.Path) -> str:
    return f" (the unreadable step is moved to {directory.parent / (directory.name + '.unreadable')})"


def _move_aside(mngr: ocp.CheckpointManager, steps: Sequence[int]) -> None:
    """Move unreadable ``steps`` to ``<directory>.unreadable/<step>`` (process 0) and reload
    the manager: they no longer count towards ``max_to_keep`` nor block re-saving the step."""
    if not steps:
        return
    directory = epath.Path(mngr.directory)
    aside = directory.parent / f"{directory.name}.unreadable"
    if jax.process_index() == 0:
        aside.mkdir(parents=True, exist_ok=True)
        for step in steps:
            target = aside / str(step)
            n = 1
            while target.exists():  # an earlier fallback moved this step number already
                target, n = aside / f"{step}.{n}", n + 1
            (directory / str(step)).rename(target)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("jaxstyle_checkpoint_move_aside")
    mngr.reload()


class _Steps:
    """What every checkpointer here shares: its orbax manager's latest step, saving, waiting,
    closing, and turning a failed write into one :class:`CheckpointWriteError`."""

    _mngr: ocp.CheckpointManager
    directory: epath.Path
    _pending: int | None = None  # the step whose asynchronous save is not known to be committed
    _failed: bool = False  # after a failed save the manager is only closed, quietly

    def latest_step(self) -> int | None:
        return self._mngr.latest_step()

    def _save(self, step: int, args: ocp.args.CheckpointArgs) -> None:
        """Start saving ``step`` once the previous save is committed (its failure named as its own)."""
        self.wait()
        try:
            self._mngr.save(step, args=args, force=True)
        except Exception as e:  # noqa: BLE001 - any failure to write is reported the same way
            self._fail(step, e)
        self._pending = step

    def wait(self) -> None:
        """Block until pending asynchronous saves are committed; :class:`CheckpointWriteError` if one failed."""
        if self._failed:
            return
        try:
            self._mngr.wait_until_finished()
        except Exception as e:  # noqa: BLE001
            self._fail(self._pending, e)
        self._pending = None

    def close(self) -> None:
        """Wait for the save in flight (raising for its failure), then release the manager."""
        try:
            self.wait()
        finally:
            try:
                self._mngr.close()
            except Exception:  # noqa: BLE001 - a failed save's error again: reported already
                if not self._failed:
                    raise

    def _fail(self, step: int | None, err: BaseException) -> None:
        self._failed = True
        _wait_for_writers()
        self._remove_tmp_dirs()
        committed = committed_steps(self.directory)
        kept = f"the last good checkpoint is step {committed[-1]}" if committed else "no checkpoint was written"
        raise CheckpointWriteError(
            f"checkpoint of step {step} not written to {self.directory}: {write_cause(err)}; {kept}"
        ) from err

    def _remove_tmp_dirs(self) -> None:
        """Remove the temporary folders of unfinished saves (process 0; orbax would only at the
        next start), so a full disk gets its space back now."""
        if jax.process_index() != 0 or not self.directory.exists():
            return
        for tmp in self.directory.glob("*.orbax-checkpoint-tmp*"):
            try:
                tmp.rmtree() if tmp.is_dir() else tmp.unlink()
            except OSError:  # best effort: the next run's manager removes it too
                pass


def _wait_for_writers(timeout: float = 60.0) -> None:
    """Let orbax's writing threads end: after one item of a save fails, the others go on writing
    into its temporary folder, which must be removed after them."""
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and type(thread).__module__.startswith("orbax."):
            # threading's join: orbax's own would raise the thread's error (already reported).
            threading.Thread.join(thread, max(0.0, deadline - time.monotonic()))


def committed_steps(directory: str | Path | epath.Path) -> list[int]:
    """The committed step numbers in a checkpoints folder, oldest first (none for a missing folder)."""
    directory = epath.Path(directory)
    if not directory.is_dir():
        return []
    return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit() and p.is_dir())


def write_cause(err: BaseException) -> str:
    """Why a write failed, in a few words: the OS's reason where the exception chain has one
    (``No space left on device``; tensorstore gives it as ``[os_error_code='28']``), else the
    first line of the error (tensorstore's run to pages)."""
    seen = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.strerror:
            return e.strerror
        code = re.search(r"os_error_code='(\d+)'", str(e))
        if code:
            return os.strerror(int(code.group(1)))
        e = e.__cause__ or e.__context__
    return _short(err)


class Checkpointer(_Steps):
    """The trainer's view of checkpoints in ``workdir/checkpoints``.

    Args:
      workdir: run directory.
      keep: keep the last ``keep`` checkpoints (None keeps all).
      async_save: write array data in a background thread while training continues.
    """

    def __init__(self, workdir: str | Path | epath.Path, keep: int | None = 3, async_save: bool = True):
        self.directory = as_path(workdir) / CHECKPOINT_SUBDIR
        self._mngr = _manager(self.directory, keep, async_save)

    def save(self, step: int, state: dict[str, Any], data_state: Any, config: dict) -> None:
        """Start saving ``state`` at ``step``; returns once the arrays are safe to donate."""
        # step and rng are host numpy values (same on every process): orbax writes them from
        # the primary process; jax arrays on one device would be "host local" to it.
        state = {
            **state,
            "step": np.asarray(state["step"], np.int32),
            "rng": np.asarray(jax.random.key_data(state["rng"])),
        }
        self._save(
            step,
            ocp.args.Composite(
                state=ocp.args.StandardSave(state),
                data=IteratorStateSave(data_state),
                config=ocp.args.JsonSave(config),
            ),
        )

    def restore(self, step: int, abstract_state: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """``(state, data_state)`` at ``step``, arrays laid out like ``abstract_state``."""
        arrays = {k: v for k, v in abstract_state.items() if k not in ("step", "rng")}
        abstract = {
            **jax.tree.map(ocp.utils.to_shape_dtype_struct, arrays),
            "step": np.zeros((), np.int32),
            "rng": np.zeros(jax.random.key_data(abstract_state["rng"]).shape, np.uint32),
        }
        verify_step(self.directory / str(step))
        out = self._mngr.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract), data=IteratorStateRestore()
            ),
        )
        state = dict(out["state"])
        state["rng"] = jax.random.wrap_key_data(np.asarray(state["rng"]))
        return state, out["data"]

    def restore_latest(self, abstract_state: dict[str, Any]) -> tuple[int, dict[str, Any], Any] | None:
        """``(step, state, data_state)`` of the newest readable step (see :meth:`restore`);
        None when there is no step. Unreadable newer steps are reported and moved aside."""
        steps = self._mngr.all_steps()
        if not steps:
            return None
        step, (state, data), bad = restore_newest_readable(
            steps, lambda s: self.restore(s, abstract_state), lambda s: self.directory / str(s),
            _aside_note(self.directory),
        )
        _move_aside(self._mngr, bad)
        return step, state, data


class PytreeCheckpointer(_Steps):
    """Checkpoints of one plain pytree of (global) jax arrays per step in ``directory``.

    Saves are asynchronous: :meth:`save` returns once the arrays may be donated, :meth:`close`
    waits for the writes. Every process calls every method (orbax coordinates the writes).

    Args:
      directory: where the step folders go (created).
      keep: keep the last ``keep`` steps (None keeps all).
    """

    def __init__(self, directory: str | Path | epath.Path, keep: int | None = 2):
        self.directory = as_path(directory)
        self._mngr = ocp.CheckpointManager(self.directory, options=_options(keep, async_save=True))

    def save(self, step: int, tree: Any) -> None:
        self._save(step, ocp.args.StandardSave(tree))

    def _restore(self, step: int, abstract: Any) -> Any:
        verify_step(self.directory / str(step))
        return self._mngr.restore(step, args=ocp.args.StandardRestore(abstract))

    def restore_latest(self, like: Any) -> tuple[int, Any] | None:
        """``(step, tree)`` of the newest readable step, laid out like ``like`` (shapes, dtypes,
        shardings); None when there is no step yet. Unreadable newer steps are reported and
        moved aside (see the module docstring)."""
        steps = self._mngr.all_steps()
        if not steps:
            return None
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        step, tree, bad = restore_newest_readable(
            steps,
            lambda s: self._restore(s, abstract),
            lambda s: self.directory / str(s),
            _aside_note(self.directory),
        )
        _move_aside(self._mngr, bad)
        return step, tree


def checkpoint_steps(path: str | Path) -> list[Path]:
    """The step directories a workdir, its ``checkpoints/`` folder or a step directory names,
    newest first (one for a step directory: the user picked it)."""
    path = epath.Path(path)
    if not path.exists():
        raise InputError(f"{path}: checkpoint not found")
    if not path.is_dir():
        raise InputError(f"{path}: not a checkpoint folder (expected a training workdir or WORKDIR/checkpoints/<step>)")
    if (path / "state").is_dir():
        return [path]
    root = path / CHECKPOINT_SUBDIR if (path / CHECKPOINT_SUBDIR).is_dir() else path
    steps = sorted(((int(p.name), p) for p in root.iterdir() if p.name.isdigit() and (p / "state").is_dir()), reverse=True)
    if not steps:
        raise InputError(f"{path}: no checkpoint in it (expected WORKDIR/checkpoints/<step>/state)")
    return [p for _, p in steps]


def find_checkpoint(path: str | Path) -> Path:
    """The newest step directory from a workdir, its ``checkpoints/`` folder or a step directory."""
    return Path(str(checkpoint_steps(path)[0]))


def load_checkpoint_params(path: str | Path) -> tuple[dict[str, Any], dict]:
    """``(params, config_dict)`` of the newest readable checkpoint at/under ``path``, as host
    numpy arrays (an unreadable newer step: one warning line, the previous one is used).

    For fine-tuning (``--init-from``) and test-time use; optimizer state is not read.
    """
    dirs = {_step_number(d): d for d in checkpoint_steps(path)}
    _, out, _ = restore_newest_readable(list(dirs), lambda s: _restore_params_numpy(dirs[s]), dirs.__getitem__)
    return out


def _step_number(step_dir: epath.Path) -> int:
    return int(step_dir.name) if step_dir.name.isdigit() else 0


def load_method_checkpoint(path: str | Path, method: str) -> tuple[dict[str, Any], dict]:
    """:func:`load_checkpoint_params` of a checkpoint that ``method`` wrote; a one-line
    InputError for one trained by another method (its config's ``method``)."""
    params, config = load_checkpoint_params(path)
    if config.get("method") != method:
        raise InputError(f"{path}: not a {method} checkpoint (it was trained as {config.get('method')!r})")
    return params, config


def _restore_params_numpy(step_dir: epath.Path) -> tuple[dict[str, Any], dict]:
    """The parameters (host numpy) and config of one step directory; raises on damage.

    The item handler is used directly: a checkpointer would look for step metadata inside
    ``state/`` and log a warning that it is missing there.
    """
    step_dir = epath.Path(step_dir)
    verify_step(step_dir)
    handler = ocp.PyTreeCheckpointHandler()
    try:
        tree = handler.metadata(step_dir / "state").tree
        params_meta = {"params": tree["params"]}
        restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), params_meta)
        state = handler.restore(
            step_dir / "state",
            args=ocp.args.PyTreeRestore(item=params_meta, restore_args=restore_args, partial_restore=True),
        )
    finally:
        handler.close()
    config = json.loads((step_dir / "config" / "metadata").read_text())
    return state["params"], config
