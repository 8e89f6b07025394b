#!/usr/bin/env bash
# Start a single-node SLURM (slurmctld + slurmd) on this machine, as root, for the
# slurm worker's tests. Debian 12 (slurm-wlm 22.05), no systemd, no cgroups, no munge:
# AuthType=auth/none with CredType=cred/none, which Debian's package still ships.
# Install first:  apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge
# Env: SLURM_LOCAL_ROOT (default /tmp/slurm) holds state, spool, logs and pid files.
#      SLURM_CONF (default /etc/slurm/slurm.conf) is where the configuration is written.
# Exits non-zero (with the daemons' log tails) when the node is not idle within 30 s.
set -euo pipefail
ROOT=${SLURM_LOCAL_ROOT:-/tmp/slurm}
CONF=${SLURM_CONF:-/etc/slurm/slurm.conf}
export SLURM_CONF=$CONF
HOST=$(hostname -s)   # NodeName must equal it

for bin in slurmctld slurmd sbatch sinfo; do
    command -v "$bin" >/dev/null || { echo "slurm-start: $bin not found; install slurmctld slurmd slurm-client" >&2; exit 1; }
done
if [ -f "$ROOT/slurmctld.pid" ] && kill -0 "$(cat "$ROOT/slurmctld.pid")" 2>/dev/null; then
    echo "slurm-start: slurmctld already running (pid $(cat "$ROOT/slurmctld.pid")); run .ci/slurm-stop.sh first" >&2
    exit 1
fi

mkdir -p "$ROOT"/{state,spool,log} "$(dirname "$CONF")"
cat >"$CONF" <<CONF
# Written by .ci/slurm-start.sh: one node (this machine), test use only.
ClusterName=pydralite
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$ROOT/state
SlurmdSpoolDir=$ROOT/spool
SlurmctldPidFile=$ROOT/slurmctld.pid
SlurmdPidFile=$ROOT/slurmd.pid
SlurmctldLogFile=$ROOT/log/slurmctld.log
SlurmdLogFile=$ROOT/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
MailProg=/bin/true
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
# Finished jobs stay visible to squeue -t all for an hour (there is no sacct here).
MinJobAge=3600
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
# A client-only copy with MinJobAge=4: `sbatch --wait` otherwise sleeps 2, 8, 32, 32 s
# between checks. Use it as SLURM_CONF=$ROOT/client-fastwait.conf sbatch --wait ...
# (the slurm worker polls squeue itself and does not need it).
sed 's/^MinJobAge=.*/MinJobAge=4/' "$CONF" >"$ROOT/client-fastwait.conf"

slurmctld -i   # -i: a fresh StateSaveLocation has no state files to read
slurmd

state=
for _ in $(seq 300); do
    state=$(sinfo -h -n "$HOST" -o %T 2>/dev/null || true)
    case "$state" in idle | mixed | allocated) break ;; esac
    sleep 0.1
done
case "$state" in
    idle | mixed | allocated) echo "slurm up: node $HOST $state, conf $CONF" ;;
    *)
        echo "slurm-start: node state '$state' after 30 s; logs in $ROOT/log" >&2
        tail -n 20 "$ROOT"/log/*.log >&2 || true
        exit 1
        ;;
esac
