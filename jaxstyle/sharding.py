"""Data parallelism: one mesh with a ``data`` axis, replicated parameters, sharded batches.

Multi-host runs call :func:`initialize_distributed` before anything touches a device; each
process then feeds ``global_batch // process_count`` examples and :func:`global_batch` builds
the global array with ``jax.make_array_from_process_local_data``.

Spatial sharding (the optimization engine's ``spatial_shards``): a 2-D ``(data, space)`` mesh
(:func:`make_pair_space_mesh`) and a :class:`SpatialLayout` that splits every per-pair *map*
(a leaf laid out ``(..., H, W, C)``: images, feature targets, optimizer moments and L-BFGS
history) along its height over ``space``. Layouts only place data: XLA's SPMD partitioner exchanges the
convolution halos and turns position sums (Grams, means) into all-reduces, so the result is
that of one device up to float reassociation.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxstyle.errors import InputError

DATA_AXIS = "data"
SPACE_AXIS = "space"


def initialize_distributed(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> bool:
    """Join a multi-process run; returns whether one was joined.

    Arguments win over the environment (``JAXSTYLE_COORDINATOR``, ``JAXSTYLE_NUM_PROCESSES``,
    ``JAXSTYLE_PROCESS_ID``, as the scripts in ``launch/`` set them). With none of them but
    ``JAXSTYLE_DISTRIBUTED=auto`` (SLURM, TPU pods, ...), JAX detects the cluster itself.
    On CPU the cross-process collectives are gloo (JAX's default).
    """
    env = os.environ
    coordinator = coordinator or env.get("JAXSTYLE_COORDINATOR") or None
    if num_processes is None and env.get("JAXSTYLE_NUM_PROCESSES"):
        num_processes = int(env["JAXSTYLE_NUM_PROCESSES"])
    if process_id is None and env.get("JAXSTYLE_PROCESS_ID"):
        process_id = int(env["JAXSTYLE_PROCESS_ID"])
    if coordinator:
        if num_processes is None or process_id is None:
            raise InputError("distributed run: a coordinator needs --num-processes and --process-id")
        jax.distributed.initialize(coordinator, num_processes=num_processes, process_id=process_id)
        return True
    if env.get("JAXSTYLE_DISTRIBUTED") == "auto":
        jax.distributed.initialize()  # cluster auto-detection (SLURM, TPU, k8s ...)
        return True
    return False


def make_mesh(num_devices: int | None = None, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh over all (or the first ``num_devices``) devices, or ``devices``, axis ``data``."""
    devices = list(devices if devices is not None else jax.devices())
    n = num_devices or len(devices)
    # Auto axis types: shardings are propagated by the compiler (jit + NamedSharding inputs),
    # not carried in the types (Explicit, make_mesh's default), which would make every
    # reshape in the models spell out its output sharding.
    return jax.make_mesh(
        (n,), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,), devices=devices[:n]
    )


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def data_sharded(mesh: Mesh) -> NamedSharding:
    """Leading (batch) axis split over ``data``."""
    return NamedSharding(mesh, P(DATA_AXIS))


def check_batch_size(global_batch: int, mesh: Mesh) -> int:
    """The per-process batch for ``global_batch``; raises if it does not divide evenly."""
    n_dev, n_proc = mesh.devices.size, jax.process_count()
    if global_batch % n_dev or global_batch % n_proc:
        raise InputError(
            f"batch size {global_batch} must be a multiple of the device count {n_dev} "
            f"and the process count {n_proc}"
        )
    return global_batch // n_proc


def global_batch(local: Mapping[str, Any], mesh: Mesh) -> dict[str, jax.Array]:
    """Per-process host arrays -> global arrays sharded on ``data``."""
    sharding = data_sharded(mesh)
    return {
        k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in local.items()
    }


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Place every leaf of ``tree`` on all devices of ``mesh`` (same value everywhere)."""
    sharding = replicated(mesh)
    return jax.tree.map(lambda x: jax.make_array_from_callback(
        np.shape(x), sharding, lambda idx, x=np.asarray(x): x[idx]
    ), tree)


# --------------------------------------------------------------------------- spatial sharding


def make_pair_space_mesh(spatial: int, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 2-D mesh ``(data, space)`` over all devices: ``spatial`` devices share each pair's image.

    Consecutive devices form a ``space`` group (on a multi-host GPU/TPU job, keep ``spatial``
    at most the devices per host so halo exchanges stay on the fast local interconnect).
    """
    devices = list(devices if devices is not None else jax.devices())
    if spatial < 1 or len(devices) % spatial:
        raise InputError(f"--spatial-shards {spatial} must divide the device count {len(devices)}")
    return jax.make_mesh(
        (len(devices) // spatial, spatial), (DATA_AXIS, SPACE_AXIS),
        axis_types=(jax.sharding.AxisType.Auto,) * 2, devices=devices,
    )


def is_map(per_pair_shape: Sequence[int]) -> bool:
    """Whether a per-pair leaf is a spatial map ``(..., H, W, C)`` (split along H when sharded)."""
    return len(per_pair_shape) >= 3


@dataclasses.dataclass(frozen=True)
class SpatialLayout:
    """Where a bucket's per-pair arrays live on a ``(data, space)`` mesh (a hashable jit static).

    Leaves carry a leading pair axis split over ``data``; maps (:func:`is_map`) whose height
    divides by the ``space`` size are also split along it (axis -3). Other leaves (Grams,
    scalars, maps of other heights) are whole on every device of a ``space`` group. Layouts
    only place data, so any layout computes the same values; the engine refuses images whose
    height does not divide (padding them and cropping inside the program hit an XLA SPMD
    miscompile when two unevenly cropped operands met: wrong gradients, see BENCHMARKS.md).
    """

    mesh: Mesh

    @property
    def spatial(self) -> int:
        return dict(self.mesh.shape)[SPACE_AXIS]

    def spec(self, per_pair_shape: Sequence[int]) -> P:
        """``P('data')``, or for a divisible map ``P('data', None, ..., 'space')`` (height on ``space``)."""
        if not is_map(per_pair_shape) or per_pair_shape[-3] % self.spatial:
            return P(DATA_AXIS)
        return P(DATA_AXIS, *([None] * (len(per_pair_shape) - 3)), SPACE_AXIS)

    def sharding(self, per_pair_shape: Sequence[int]) -> NamedSharding:
        return NamedSharding(self.mesh, self.spec(per_pair_shape))

    def place(self, tree: Any) -> Any:
        """Inside jit: pin every leaf of a batched ``tree`` (P, ...) to its sharding, so XLA
        never picks a replicated layout (e.g. for an optimizer state made of zeros)."""
        return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, self.sharding(x.shape[1:])), tree)
