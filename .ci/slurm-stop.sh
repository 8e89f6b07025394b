#!/usr/bin/env bash
# Stop what .ci/slurm-start.sh started: `scontrol shutdown`, then wait for the pid files'
# processes (TERM, then KILL, after 10 s). Never kills by name. --clean removes $SLURM_LOCAL_ROOT.
set -uo pipefail
ROOT=${SLURM_LOCAL_ROOT:-/tmp/slurm}
export SLURM_CONF=${SLURM_CONF:-/etc/slurm/slurm.conf}
PIDS=("$ROOT/slurmctld.pid" "$ROOT/slurmd.pid")

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
any_alive() { for f in "${PIDS[@]}"; do alive "$f" && return 0; done; return 1; }

if any_alive; then
    timeout 10 scontrol shutdown >/dev/null 2>&1
    for _ in $(seq 100); do any_alive || break; sleep 0.1; done
    for sig in TERM KILL; do
        for f in "${PIDS[@]}"; do alive "$f" && kill -"$sig" "$(cat "$f")"; done
        any_alive && sleep 1
    done
fi
[ "${1:-}" = --clean ] && rm -rf "$ROOT"
echo "slurm stopped"
