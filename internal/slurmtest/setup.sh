#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for the gridsearch -slurm
# tests: Debian's slurm-wlm and munge, one node with two CPUs in partition
# "debug", no cgroups (containers rarely have them), daemons started
# directly when there is no systemd. Run as root. Idempotent: a cluster
# that answers already is left alone. Exits 0 once sinfo shows the node
# idle; otherwise prints what failed and exits 1.
set -euo pipefail

log() { echo "slurmtest: $*" >&2; }

node=$(hostname -s)

# A node that is idle (or busy with jobs) now: nothing to do.
up() { command -v sinfo >/dev/null && timeout 10 sinfo -h -N -n "$node" -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated|completing)'; }
if up; then
  log "cluster answers; left as it is"; exit 0
fi
if [ "$(id -u)" != 0 ]; then
  log "no SLURM cluster answers, and making one needs root"; exit 1
fi

if ! command -v sbatch >/dev/null || ! command -v munged >/dev/null || ! command -v slurmd >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq slurm-wlm munge >/dev/null
fi


# munge: a key, the directories its daemon wants, the daemon.
if [ ! -s /etc/munge/munge.key ]; then
  if command -v mungekey >/dev/null; then
    mungekey --create --keyfile=/etc/munge/munge.key
  else
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
fi
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /etc/munge/munge.key /run/munge /var/log/munge /var/lib/munge
chmod 0400 /etc/munge/munge.key
chmod 0755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged --force
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
  munge -n | unmunge >/dev/null || { log "munged does not answer"; exit 1; }
fi

# slurm.conf: written when missing or not ours, so that a real site's
# configuration is never overwritten.
conf=/etc/slurm/slurm.conf
marker='# written by zmqflow internal/slurmtest/setup.sh'
if [ ! -e "$conf" ] || head -1 "$conf" | grep -qF "$marker"; then
  mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
  cat > "$conf.new" <<CONF
$marker
ClusterName=zmqflowtest
SlurmctldHost=$node
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
KillWait=5
MinJobAge=30
NodeName=$node CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
  if ! cmp -s "$conf.new" "$conf"; then
    mv "$conf.new" "$conf"
    # A daemon running with another configuration is restarted.
    for d in slurmd slurmctld; do
      if [ -s /run/$d.pid ]; then kill "$(cat /run/$d.pid)" 2>/dev/null || true; fi
    done
    sleep 1
  else
    rm -f "$conf.new"
  fi
else
  log "$conf is not ours: using it as it is"
fi

running() { [ -s "/run/$1.pid" ] && kill -0 "$(cat "/run/$1.pid")" 2>/dev/null; }
if ! running slurmctld; then
  /usr/sbin/slurmctld
fi
for _ in $(seq 50); do timeout 5 scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
if ! running slurmd; then
  /usr/sbin/slurmd
fi

# The node comes up once slurmd has registered; a node left down or
# drained by an earlier run is resumed.
for i in $(seq 60); do
  up && { log "node $node is up"; exit 0; }
  state=$(timeout 10 sinfo -h -N -n "$node" -o '%T' 2>/dev/null || true)
  case "$state" in
    down*|drain*|fail*) timeout 10 scontrol update nodename="$node" state=resume 2>/dev/null || true ;;
  esac
  sleep 0.5
done
log "node $node did not come up: sinfo says: $(timeout 10 sinfo -N 2>&1 || true)"
tail -5 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1
