#!/usr/bin/env bash
# N processes of `jaxstyle train` on this machine, joined over 127.0.0.1 (what the tests use).
#
#   launch/local.sh N [jaxstyle train args...]
#   launch/local.sh 2 --config configs/adain.py:tiny --workdir runs/x --config.data.content_dir=...
#
# Env: JAXSTYLE_PORT (coordinator port, default: a free one), PYTHON (default: python),
# DRY_RUN=1 prints the commands without running them. On CPU each process has its own
# device(s) (XLA_FLAGS=--xla_force_host_platform_device_count=K for K per process) and
# cross-process collectives use gloo.
set -euo pipefail
if [[ $# -lt 1 || ! "$1" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 NUM_PROCESSES [jaxstyle train args...]" >&2
  exit 2
fi
N=$1; shift
PYTHON=${PYTHON:-python}
PORT=${JAXSTYLE_PORT:-$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
pids=()
for ((i = 0; i < N; i++)); do
  cmd=("$PYTHON" -m jaxstyle train "$@" --coordinator "127.0.0.1:$PORT" --num-processes "$N" --process-id "$i")
  echo "+ ${cmd[*]}"
  if [[ "${DRY_RUN:-0}" != 1 ]]; then
    "${cmd[@]}" &
    pids+=($!)
  fi
done
status=0
for pid in "${pids[@]}"; do
  wait "$pid" || status=$?
done
exit $status
