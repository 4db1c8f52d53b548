#!/usr/bin/env bash
# Multi-node GPU training: one process per node (all its GPUs), under SLURM or with an
# explicit coordinator.
#
# Under SLURM (run once per task, e.g. from an sbatch script):
#   srun --nodes=4 --ntasks-per-node=1 --gpus-per-node=8 launch/slurm.sh \
#       --config configs/adain.py:paper --workdir /shared/runs/adain --config.data.content_dir=...
# The coordinator is the first node of $SLURM_JOB_NODELIST, port $JAXSTYLE_PORT (default 12355);
# process id and count come from $SLURM_PROCID / $SLURM_NTASKS.
#
# Without SLURM, on every node (same arguments everywhere, NODE_RANK = 0..NUM_NODES-1):
#   COORDINATOR=node0:12355 NUM_NODES=4 NODE_RANK=$i launch/slurm.sh --config ... --workdir ...
#
# DRY_RUN=1 prints the command without running it. The workdir must be on a filesystem all
# nodes see (checkpoints are written collectively).
set -euo pipefail
PYTHON=${PYTHON:-python}
PORT=${JAXSTYLE_PORT:-12355}
if [[ -n "${COORDINATOR:-}" ]]; then
  coord=$COORDINATOR; nproc=${NUM_NODES:?set NUM_NODES}; rank=${NODE_RANK:?set NODE_RANK}
elif [[ -n "${SLURM_JOB_NODELIST:-}" ]]; then
  head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)
  coord="$head:$PORT"; nproc=${SLURM_NTASKS:?}; rank=${SLURM_PROCID:?}
else
  echo "$0: not under SLURM; set COORDINATOR, NUM_NODES and NODE_RANK" >&2
  exit 2
fi
cmd=("$PYTHON" -m jaxstyle train "$@" --coordinator "$coord" --num-processes "$nproc" --process-id "$rank")
echo "+ ${cmd[*]}"
[[ "${DRY_RUN:-0}" == 1 ]] || exec "${cmd[@]}"
