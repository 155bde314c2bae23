#!/bin/sh
# Start every cerflow process with a clean Prometheus multiprocess directory: files left
# by a previous run would be summed into /metrics as if those processes still existed.
set -eu
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -maxdepth 1 -name '*.db' -delete
fi
exec "$@"
