#!/usr/bin/env bash
# TPU pod slice: the same command on every worker VM; JAX finds the coordinator itself
# (JAXSTYLE_DISTRIBUTED=auto -> jax.distributed.initialize()).
#
#   TPU_NAME=my-v5e-32 ZONE=us-west4-a REPO_DIR=~/jaxstyle launch/tpu_pod.sh \
#       --config configs/adain.py:paper --workdir gs://bucket/runs/adain --config.data.content_tfds=coco/2017 ...
#
# Needs the gcloud CLI and jaxstyle installed on the workers (pip install -e .[tpu]).
#
# --workdir gs://...: every host must see the checkpoints, so a pod's workdir is a bucket.
# The trainer writes config.json, metrics.jsonl and samples/ through etils.epath (needs
# gcsfs, or TensorFlow, on the workers; tested offline with an in-memory file system:
# tests/test_reliability.py), checkpoints through Orbax (tensorstore's GCS driver). The
# TensorBoard events go to a local folder on worker 0 (tensorboardX writes local files),
# printed at start: copy it to the bucket or point TensorBoard at it.
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
