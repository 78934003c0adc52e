#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for trying the sweep scripts and for CI.
#
# Usage:
#   scripts/slurm/local-cluster.sh start     # install if needed, configure, start, wait for the node
#   scripts/slurm/local-cluster.sh status    # sinfo + squeue of the local cluster
#   scripts/slurm/local-cluster.sh running   # exit status 0 if slurmctld and slurmd are running
#   scripts/slurm/local-cluster.sh stop      # stop slurmd and slurmctld (and munged if this script started it)
#   export SLURM_CONF=/tmp/slurm-local/slurm.conf   # then sbatch/squeue/sinfo talk to it
#
# Conventions:
#   - Debian/Ubuntu: installs the packages slurm-wlm and munge with apt-get if a program is missing
#     (as root, or through sudo otherwise). Tested on Debian 12 (Slurm 22.05, munge 0.5.15).
#   - Everything of the cluster lives in $LOCAL_SLURM_DIR (default /tmp/slurm-local): slurm.conf,
#     state, spool, logs, pid files. The system's /etc/slurm is neither read nor written, so the
#     clients need SLURM_CONF=$LOCAL_SLURM_DIR/slurm.conf (printed by `start`).
#   - One node named "localhost" (slurmd -N localhost, so the machine's hostname does not matter),
#     $LOCAL_SLURM_CPUS CPUs (default 2), one partition "debug". No systemd and no cgroups needed
#     (proctrack/linuxproc, task/none, no accounting), so it also runs in containers and CI VMs;
#     the flip side is that a job's CPU count is not enforced, only used for scheduling.
#   - munge: the system's munged (/etc/munge/munge.key, created with mungekey if absent); started
#     here as user munge if it is not running (no systemd needed), and stopped by `stop` only then.
#   - Ports $LOCAL_SLURM_PORTS (default 6817-6818, slurmctld then slurmd); the daemons run as root.
set -euo pipefail

dir=${LOCAL_SLURM_DIR:-/tmp/slurm-local}
cpus=${LOCAL_SLURM_CPUS:-2}
ports=${LOCAL_SLURM_PORTS:-6817-6818}
conf=$dir/slurm.conf
export PATH=$PATH:/usr/sbin:/sbin
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

log() { echo "local-cluster: $*" >&2; }
die() { log "$*"; exit 1; }

install_packages() {
  local missing=()
  for prog in slurmctld slurmd sbatch sinfo munged munge; do
    command -v "$prog" >/dev/null 2>&1 || missing+=("$prog")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get: install Slurm and munge yourself"
  log "installing slurm-wlm and munge (missing: ${missing[*]})"
  $SUDO apt-get update -qq
  # Without recommends: 9 packages instead of 43 (no docs, mail, X); the basic plugins are enough.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurm-wlm munge >/dev/null
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
  if munge_ok; then
    return 0
  fi
  local key=/etc/munge/munge.key
  if ! $SUDO test -s "$key"; then
    log "creating the munge key $key"
    $SUDO mungekey --create --keyfile="$key" 2>/dev/null ||
      $SUDO dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
    $SUDO chown munge:munge "$key"
    $SUDO chmod 0400 "$key"
  fi
  log "starting munged"
  $SUDO install -d -o munge -g munge -m 0755 /run/munge
  $SUDO install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
  $SUDO runuser -u munge -- /usr/sbin/munged
  : | $SUDO tee "$dir/munged.started-here" >/dev/null
  for _ in $(seq 50); do munge_ok && return 0; sleep 0.1; done
  die "munged does not answer (munge -n | unmunge fails); see /var/log/munge/munged.log"
}

write_conf() {
  local mem
  # RealMemory: 90% of this machine's, in MB (slurmd drains a node that claims more than it has).
  mem=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
  $SUDO install -d -m 0755 "$dir" "$dir/state" "$dir/spool"
  $SUDO tee "$conf" >/dev/null <<EOF
# Written by scripts/slurm/local-cluster.sh: a one-node cluster on this machine.
ClusterName=local
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=${ports%-*}
SlurmdPort=${ports#*-}
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# Report the configured CPUs and memory, not the hardware's (no drain on a mismatch).
SlurmdParameters=config_overrides
ReturnToService=2
# Finished jobs stay visible to scontrol/squeue for 5 minutes (no accounting database here).
MinJobAge=300
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

# The pid in pid file $1 if that process is running the program $2 (a pid file left from an earlier
# boot may name an unrelated process now: it is neither reported as running nor signalled).
pid_of() {
  local pid comm
  [ -s "$1" ] || return 1
  pid=$($SUDO cat "$1")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [ "$comm" = "$2" ] || return 1
  echo "$pid"
}

pid_alive() { pid_of "$1" "$(basename "$1" .pid)" >/dev/null; }

# $dir is written as root (the daemons run as root): it must be a real directory owned by root,
# not a link or a directory someone else created in /tmp beforehand.
make_dir() {
  [ -L "$dir" ] && die "$dir is a symbolic link; remove it or set LOCAL_SLURM_DIR"
  $SUDO install -d -m 0755 "$dir"
  local owner
  owner=$(stat -c %u "$dir")
  [ "$owner" = 0 ] || die "$dir is owned by uid $owner, not root; remove it or set LOCAL_SLURM_DIR"
}

start() {
  install_packages
  make_dir
  if pid_alive "$dir/slurmctld.pid" || pid_alive "$dir/slurmd.pid"; then
    die "already running (pid files in $dir); run '$0 stop' first"
  fi
  start_munge
  write_conf
  log "starting slurmctld and slurmd (config $conf)"
  # -c: a fresh start, no jobs or node state from an earlier cluster in $dir.
  $SUDO slurmctld -c -f "$conf"
  $SUDO slurmd -c -f "$conf" -N localhost
  export SLURM_CONF=$conf
  local state=""
  for _ in $(seq 120); do
    state=$(sinfo -h -n localhost -o %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.5
  done
  if [ "$state" != idle ]; then
    log "the node is not idle after 60 s (state: '${state:-no answer}'); the logs:"
    $SUDO tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
    exit 1
  fi
  sinfo >&2
  log "up. Use it with: export SLURM_CONF=$conf"
}

# Both daemons alive (by their pid files). Checked before any client command: without a config file
# the clients retry for 60 s, and with a config but no slurmctld for 9 s.
running() { [ -s "$conf" ] && pid_alive "$dir/slurmctld.pid" && pid_alive "$dir/slurmd.pid"; }

stop_daemon() {
  local name=$1 pid
  pid=$(pid_of "$dir/$name.pid" "$name") || return 0
  $SUDO kill "$pid"
  for _ in $(seq 100); do $SUDO kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  log "$name ($pid) did not stop in 10 s; killing it"
  $SUDO kill -9 "$pid" 2>/dev/null || true
}

stop() {
  stop_daemon slurmd
  stop_daemon slurmctld
  if [ -e "$dir/munged.started-here" ]; then
    local pid
    if pid=$(pid_of /run/munge/munged.pid munged); then
      $SUDO kill "$pid" 2>/dev/null || true
    fi
    $SUDO rm -f "$dir/munged.started-here"
  fi
  log "stopped (state and logs left in $dir)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  running) running ;;
  status)
    running || { log "not running (no live daemons in $dir)"; exit 1; }
    SLURM_CONF=$conf sinfo && SLURM_CONF=$conf squeue
    ;;
  *) echo "usage: $0 start|stop|status|running" >&2; exit 2 ;;
esac
