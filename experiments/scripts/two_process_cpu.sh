#!/usr/bin/env bash
# Two JAX processes on localhost CPU, training one data-parallel model with
# jax.distributed: each process loads its half of every global batch
# (train_batches(process_index=i, process_count=2)) and owns DEVICES_PER_PROCESS
# CPU devices; gradients, BatchNorm statistics and metrics are reduced over all
# 2 x DEVICES_PER_PROCESS devices. Process 0 writes metrics; both write checkpoints
# (orbax coordinates them).
#
#   bash experiments/scripts/two_process_cpu.sh runs/two_process [--config.num_train_steps=20]
#
# On a real cluster run one process per host with --coordinator_address=<host0>:<port>,
# --num_processes and --process_id (or config.distributed=True under SLURM / TPU pods).
set -euo pipefail
WORKDIR=${1:-runs/two_process}
shift || true
CONFIG=${CONFIG:-experiments/configs/test.py}
PORT=${PORT:-12355}
DEVICES_PER_PROCESS=${DEVICES_PER_PROCESS:-2}
export JAX_PLATFORMS=cpu
export XLA_FLAGS="--xla_force_host_platform_device_count=${DEVICES_PER_PROCESS}"
pids=()
for i in 0 1; do
  python -m experiments.main --config="$CONFIG" --workdir="$WORKDIR" \
    --coordinator_address="localhost:${PORT}" --num_processes=2 --process_id=$i \
    "$@" > "${WORKDIR%/}.process$i.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
tail -n 16 "${WORKDIR%/}.process0.log"
exit $status
