#!/usr/bin/env bash
# A one-node SLURM cluster on this machine (Debian, root, no systemd), for tests and CI.
#
#   slurm/local-cluster.sh start    install slurm-wlm + munge if missing (apt), write
#                                   /etc/slurm/slurm.conf, start munged, slurmctld, slurmd
#   slurm/local-cluster.sh stop     end only the daemons that `start` started (PIDs in the state dir)
#   slurm/local-cluster.sh status   which daemons run, and `sinfo`
#
# Idempotent: `start` twice leaves one set of daemons; `stop` twice is harmless.
# State (PID files): $SNNSIM_SLURM_STATE (default /run/snnsim-slurm).
# Exit codes: 0 ok; 1 failure (the message says which step); 3 not root.
set -euo pipefail

STATE=${SNNSIM_SLURM_STATE:-/run/snnsim-slurm}
CONF=/etc/slurm/slurm.conf
DAEMONS=(munged slurmctld slurmd)

say() { echo "local-cluster: $*" >&2; }
die() { say "error: $*"; exit 1; }

alive() {  # alive NAME: the recorded PID of NAME is running and is NAME
    local f="$STATE/$1.pid" pid
    [[ -s $f ]] || return 1
    pid=$(cat "$f")
    [[ -d /proc/$pid ]] || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$1" ]]
}

running_pid() {  # running_pid NAME: the PID of a running daemon NAME (any owner), or nothing
    local p
    for p in /proc/[0-9]*; do
        if [[ $(cat "$p/comm" 2>/dev/null) == "$1" ]]; then echo "${p#/proc/}"; return 0; fi
    done
    return 1
}

install() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
        && command -v sbatch >/dev/null; then
        return 0
    fi
    command -v apt-get >/dev/null || die "slurm is not installed and there is no apt-get"
    say "installing slurm-wlm and munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null || die "apt-get install slurm-wlm munge failed"
}

munge_setup() {
    mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        say "creating /etc/munge/munge.key"
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile=/etc/munge/munge.key --force >/dev/null
        else
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
        fi
    fi
    chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge
    chmod 0700 /etc/munge
    chmod 0400 /etc/munge/munge.key
    chmod 0755 /run/munge
}

write_conf() {
    local cpus mem_mb
    cpus=$(nproc)
    # RealMemory a bit below what is free now (slurmd refuses a node that claims more than it has)
    mem_mb=$(awk '/MemAvailable/ {printf "%d", $2 / 1024 * 0.8}' /proc/meminfo)
    (( mem_mb > 256 )) || mem_mb=256
    mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd
    cat > "$CONF.new" <<CONFEOF
# Written by snnsim slurm/local-cluster.sh: a one-node cluster for tests and CI.
ClusterName=local
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmctldLogFile=/var/log/slurmctld.log
SlurmdLogFile=/var/log/slurmd.log
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SchedulerParameters=sched_interval=2
MinJobAge=300
NodeName=localhost CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONFEOF
    mv "$CONF.new" "$CONF"
}

start_daemon() {  # start_daemon NAME PIDFILE CMD...: start NAME unless ours is alive; record its PID
    local name=$1 pidfile=$2; shift 2
    if alive "$name"; then say "$name already running (pid $(cat "$STATE/$name.pid"))"; return 0; fi
    local other
    if other=$(running_pid "$name"); then
        die "a $name not started by this script runs (pid $other); stop it first or use it directly"
    fi
    rm -f "$pidfile"
    "$@" || die "$name did not start (see /var/log/$name.log or /var/log/munge/munged.log)"
    # the daemon forks; its own pid file names the process that stays
    local i pid=""
    for i in $(seq 100); do
        if [[ -s $pidfile ]]; then
            pid=$(tr -dc 0-9 < "$pidfile")
            [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]] && break
        fi
        pid=""
        sleep 0.1
    done
    [[ -n $pid ]] || die "$name exited right after starting (see /var/log/$name.log or /var/log/munge/munged.log)"
    echo "$pid" > "$STATE/$name.pid"
    say "started $name (pid $pid)"
}

cmd_start() {
    [[ $(id -u) == 0 ]] || { say "error: start needs root (apt-get, /etc/slurm, daemons)"; exit 3; }
    install
    mkdir -p "$STATE"
    munge_setup
    if ! alive slurmctld && ! alive slurmd; then write_conf; fi
    start_daemon munged /run/munge/munged.pid runuser -u munge -- munged
    start_daemon slurmctld /run/slurmctld.pid slurmctld
    start_daemon slurmd /run/slurmd.pid slurmd
    # wait for the node to become usable
    local i state=""
    for i in $(seq 60); do
        state=$(sinfo -h -N -o '%T' 2>/dev/null | head -n1 || true)
        case $state in idle|mixed|allocated|completing) say "node localhost is $state"; return 0 ;; esac
        [[ $state == down* || $state == drain* ]] && scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
        sleep 1
    done
    die "node did not become idle (state: ${state:-none}); see /var/log/slurmctld.log and /var/log/slurmd.log"
}

cmd_stop() {
    local name pid
    for name in slurmd slurmctld munged; do
        if alive "$name"; then
            pid=$(cat "$STATE/$name.pid")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
            [[ -d /proc/$pid ]] && kill -9 "$pid" 2>/dev/null || true
            say "stopped $name (pid $pid)"
        fi
        rm -f "$STATE/$name.pid"
    done
}

cmd_status() {
    local name rc=0
    for name in "${DAEMONS[@]}"; do
        if alive "$name"; then echo "$name: running (pid $(cat "$STATE/$name.pid"))"
        else echo "$name: not running"; rc=1; fi
    done
    if command -v sinfo >/dev/null && (( rc == 0 )); then sinfo || rc=1; fi
    return $rc
}

case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
