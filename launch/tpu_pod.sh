#!/usr/bin/env bash
# TPU pod slice: the same command on every worker VM; JAX finds the coordinator itself
# (JAXSTYLE_DISTRIBUTED=auto -> jax.distributed.initialize()).
#
#   TPU_NAME=my-v5e-32 ZONE=us-west4-a REPO_DIR=~/jaxstyle launch/tpu_pod.sh \
#       --config configs/adain.py:paper --workdir gs://bucket/runs/adain --config.data.content_tfds=coco/2017 ...
#
# Needs the gcloud CLI and jaxstyle installed on the workers (pip install -e .[tpu]).
# DRY_RUN=1 prints the command without running it.
set -euo pipefail
: "${TPU_NAME:?set TPU_NAME}" "${ZONE:?set ZONE}"
REPO_DIR=${REPO_DIR:-jaxstyle}
PYTHON=${PYTHON:-python}
args=$(printf ' %q' "$@")
remote="cd $REPO_DIR && JAXSTYLE_DISTRIBUTED=auto $PYTHON -m jaxstyle train$args"
cmd=(gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone "$ZONE" --worker=all --command "$remote")
echo "+ ${cmd[*]}"
[[ "${DRY_RUN:-0}" == 1 ]] || exec "${cmd[@]}"
