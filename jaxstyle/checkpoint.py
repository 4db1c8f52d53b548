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

:class:`PytreeCheckpointer` is the same machinery for state that is one plain pytree of arrays
(the optimization engine's per-bucket variables and optimizer state).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath

from jaxstyle.errors import InputError

CHECKPOINT_SUBDIR = "checkpoints"


class IteratorStateHandler(ocp.CheckpointHandler):
    """Saves a captured iterator state (a JSON-able object) per process."""

    def save(self, directory: epath.Path, args: IteratorStateSave):
        index, count = jax.process_index(), jax.process_count()
        (directory / f"process_{index}-of-{count}.json").write_text(json.dumps(args.state))

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


def _manager(directory: Path, keep: int | None = None, async_save: bool = True) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(
        directory.absolute(),
        options=_options(keep, async_save),
        item_handlers={
            "state": ocp.StandardCheckpointHandler(),
            "data": IteratorStateHandler(),
            "config": ocp.JsonCheckpointHandler(),
        },
    )


class _Steps:
    """What every checkpointer here shares: its orbax manager's latest step, waiting, closing."""

    _mngr: ocp.CheckpointManager

    def latest_step(self) -> int | None:
        return self._mngr.latest_step()

    def wait(self) -> None:
        """Block until pending asynchronous saves are committed."""
        self._mngr.wait_until_finished()

    def close(self) -> None:
        self._mngr.wait_until_finished()
        self._mngr.close()


class Checkpointer(_Steps):
    """The trainer's view of checkpoints in ``workdir/checkpoints``.

    Args:
      workdir: run directory.
      keep: keep the last ``keep`` checkpoints (None keeps all).
      async_save: write array data in a background thread while training continues.
    """

    def __init__(self, workdir: str | Path, keep: int | None = 3, async_save: bool = True):
        self.directory = Path(workdir) / CHECKPOINT_SUBDIR
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
        self._mngr.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state),
                data=IteratorStateSave(data_state),
                config=ocp.args.JsonSave(config),
            ),
            force=True,
        )

    def restore(self, step: int, abstract_state: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """``(state, data_state)`` at ``step``, arrays laid out like ``abstract_state``."""
        arrays = {k: v for k, v in abstract_state.items() if k not in ("step", "rng")}
        abstract = {
            **jax.tree.map(ocp.utils.to_shape_dtype_struct, arrays),
            "step": np.zeros((), np.int32),
            "rng": np.zeros(jax.random.key_data(abstract_state["rng"]).shape, np.uint32),
        }
        out = self._mngr.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract), data=IteratorStateRestore()
            ),
        )
        state = dict(out["state"])
        state["rng"] = jax.random.wrap_key_data(np.asarray(state["rng"]))
        return state, out["data"]


class PytreeCheckpointer(_Steps):
    """Checkpoints of one plain pytree of (global) jax arrays per step in ``directory``.

    Saves are asynchronous: :meth:`save` returns once the arrays may be donated, :meth:`close`
    waits for the writes. Every process calls every method (orbax coordinates the writes).

    Args:
      directory: where the step folders go (created).
      keep: keep the last ``keep`` steps (None keeps all).
    """

    def __init__(self, directory: str | Path, keep: int | None = 2):
        self._mngr = ocp.CheckpointManager(Path(directory).absolute(), options=_options(keep, async_save=True))

    def save(self, step: int, tree: Any) -> None:
        self._mngr.save(step, args=ocp.args.StandardSave(tree), force=True)

    def restore_latest(self, like: Any) -> tuple[int, Any] | None:
        """``(step, tree)`` of the latest step, laid out like ``like`` (shapes, dtypes, shardings).

        None when there is no step yet.
        """
        step = self._mngr.latest_step()
        if step is None:
            return None
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        return step, self._mngr.restore(step, args=ocp.args.StandardRestore(abstract))


def find_checkpoint(path: str | Path) -> Path:
    """A step directory from a workdir, its ``checkpoints/`` folder or a step directory."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: checkpoint not found")
    if (path / "state").is_dir():
        return path
    root = path / CHECKPOINT_SUBDIR if (path / CHECKPOINT_SUBDIR).is_dir() else path
    steps = sorted((int(p.name), p) for p in root.iterdir() if p.name.isdigit() and (p / "state").is_dir())
    if not steps:
        raise InputError(f"{path}: no checkpoint in it (expected WORKDIR/checkpoints/<step>/state)")
    return steps[-1][1]


def load_checkpoint_params(path: str | Path) -> tuple[dict[str, Any], dict]:
    """``(params, config_dict)`` of the checkpoint at/under ``path``, as host numpy arrays.

    For fine-tuning (``--init-from``) and test-time use; optimizer state is not read.
    """
    return _restore_params_numpy(find_checkpoint(path))


def load_method_checkpoint(path: str | Path, method: str) -> tuple[dict[str, Any], dict]:
    """:func:`load_checkpoint_params` of a checkpoint that ``method`` wrote; a one-line
    InputError for one trained by another method (its config's ``method``)."""
    params, config = load_checkpoint_params(path)
    if config.get("method") != method:
        raise InputError(f"{path}: not a {method} checkpoint (it was trained as {config.get('method')!r})")
    return params, config


def _restore_params_numpy(step_dir: Path) -> tuple[dict[str, Any], dict]:
    ckptr = ocp.PyTreeCheckpointer()
    meta = ckptr.metadata(step_dir / "state")
    tree = meta.item_metadata.tree if hasattr(meta, "item_metadata") else meta.tree
    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree)
    state = ckptr.restore(step_dir / "state", restore_args=restore_args)
    config_path = step_dir / "config" / "metadata"
    config = {}
    for candidate in (config_path, *sorted((step_dir / "config").glob("*"))):
        if candidate.is_file():
            try:
                config = json.loads(candidate.read_text())
                break
            except ValueError:
                continue
    return state["params"], config
