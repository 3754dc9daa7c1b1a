#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for tests and trying the slurm launcher:
# munged, MariaDB (unix socket only), slurmdbd, slurmctld and one slurmd, all on loopback.
#
# Idempotent: a second call finds every daemon alive and the configs unchanged and returns in
# under a second; a changed config restarts only the daemons that read it. Needs root and
# Debian's apt (it installs slurm-wlm, slurmdbd, munge, mariadb-server on first use); no
# systemd. Stop with scripts/slurm-single-node-stop.sh.
#
# Why each piece:
#   - slurmdbd (accounting): without it sacct knows nothing, and submitit cannot tell a
#     cancelled job from a running one (its result() then waits forever).
#   - CommunicationParameters=NoCtldInAddrAny,NoInAddrAny: daemons bind loopback only.
#   - the node is called "localhost" (slurmd -N localhost) because the machine's host name
#     is not, and loopback must be where slurmctld finds it.
#   - fake GPU devices (character devices aliasing /dev/null) let `--gpus N` schedule.
#
# Environment: SLURM_STATE_DIR (default /var/tmp/slurm-one-node), SLURM_PARTITION (debug),
# SLURM_FAKE_GPUS (1).
set -euo pipefail

STATE=${SLURM_STATE_DIR:-/var/tmp/slurm-one-node}
PARTITION=${SLURM_PARTITION:-debug}
FAKE_GPUS=${SLURM_FAKE_GPUS:-1}
NODE=localhost
STARTED_AT=$(date +%s.%N)

say() { printf '[slurm-single-node] %s\n' "$*"; }
die() { printf '[slurm-single-node] error: %s\n' "$*" >&2; exit 1; }

running() {  # running PIDFILE: the process named in the pid file is alive
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

poll() {  # poll SECONDS COMMAND...: retry COMMAND every 0.2 s until it succeeds
  local tries=$(($1 * 5)); shift
  for _ in $(seq "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}

halt() {  # halt PIDFILE: stop that daemon and wait until it is gone
  running "$1" || return 0
  local pid; pid=$(cat "$1")
  kill "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
}

write_if_changed() {  # write_if_changed FILE CONTENT: 0 if the file was (re)written, 1 if identical
  if [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; then return 1; fi
  printf '%s\n' "$2" > "$1"
}

[ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages and starts system daemons)"

# 1. Packages, once.
PACKAGES=(slurm-wlm slurmdbd munge mariadb-server)
missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand"
  say "installing ${missing[*]} (apt, once)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

install -d -m 0755 "$STATE" "$STATE/ctld" "$STATE/spool"
install -d -o munge -g munge /run/munge
install -d -o mysql -g mysql "$STATE/mariadb-run" /run/mysqld

# 2. munge: every daemon and client authenticates through it.
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile /etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
fi
munge_works() { munge -n </dev/null | unmunge; }
if ! munge_works >/dev/null 2>&1; then
  runuser -u munge -- munged --force
  poll 30 munge_works || die "munged did not start"
fi

# 3. Configuration of the cluster: one node holding every core and 90% of the memory.
GRES_LINE=""; GRES_CONF=""
if [ "$FAKE_GPUS" -gt 0 ]; then
  for i in $(seq 0 $((FAKE_GPUS - 1))); do
    [ -c "$STATE/fakegpu$i" ] || mknod "$STATE/fakegpu$i" c 1 3
  done
  GRES_LINE="Gres=gpu:$FAKE_GPUS"
  GRES_CONF="NodeName=$NODE Name=gpu File=$STATE/fakegpu[0-$((FAKE_GPUS - 1))]"
fi
CORES=$(nproc)
MEMORY_MB=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
SLURM_CONF="ClusterName=onenode
SlurmctldHost=$NODE
SlurmUser=root
AuthType=auth/munge
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
KillWait=5
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=2
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=$NODE
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.log
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
NodeName=$NODE $GRES_LINE CPUs=$CORES Sockets=1 CoresPerSocket=$CORES ThreadsPerCore=1 RealMemory=$MEMORY_MB
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP DefMemPerCPU=1024"
changed=0
write_if_changed /etc/slurm/slurm.conf "$SLURM_CONF" && changed=1
write_if_changed /etc/slurm/gres.conf "$GRES_CONF" && changed=1
if [ "$changed" = 1 ]; then
  say "slurm.conf or gres.conf changed: restarting slurmctld and slurmd"
  halt "$STATE/slurmd.pid"; halt "$STATE/slurmctld.pid"
fi

# 4. Accounting: MariaDB without networking, slurmdbd in front of it.
if [ ! -d "$STATE/mariadb/mysql" ]; then
  install -d -o mysql -g mysql "$STATE/mariadb"
  mariadb-install-db --user=mysql --datadir="$STATE/mariadb" --skip-test-db \
    --auth-root-authentication-method=socket >"$STATE/mariadb-run/install.log" 2>&1 \
    || die "mariadb-install-db failed: see $STATE/mariadb-run/install.log"
fi
if ! running "$STATE/mariadb-run/mariadb.pid"; then
  setsid mariadbd --user=mysql --datadir="$STATE/mariadb" --skip-networking \
    --socket=/run/mysqld/mysqld.sock --pid-file="$STATE/mariadb-run/mariadb.pid" \
    --log-error="$STATE/mariadb-run/mariadb.log" --innodb-buffer-pool-size=256M \
    </dev/null >/dev/null 2>&1 &
  poll 30 mariadb -e 'SELECT 1' || die "MariaDB did not start: see $STATE/mariadb-run/mariadb.log"
fi
# The password only guards a socket-only database of a throw-away test cluster.
mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'onenode-test';
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
DBD_CONF="AuthType=auth/munge
DbdHost=$NODE
CommunicationParameters=NoInAddrAny
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=onenode-test
PidFile=$STATE/slurmdbd.pid
LogFile=$STATE/slurmdbd.log"
if write_if_changed /etc/slurm/slurmdbd.conf "$DBD_CONF"; then halt "$STATE/slurmdbd.pid"; fi
chmod 0600 /etc/slurm/slurmdbd.conf
running "$STATE/slurmdbd.pid" || slurmdbd
poll 30 sacctmgr --noheader list cluster || die "slurmdbd did not answer: see $STATE/slurmdbd.log"

# 5. Controller, then the node daemon (both daemonise and write their pid files).
ctld_up() { scontrol ping | grep -q UP; }
running "$STATE/slurmctld.pid" || slurmctld
poll 30 ctld_up || die "slurmctld did not answer: see $STATE/slurmctld.log"
running "$STATE/slurmd.pid" || slurmd -N "$NODE"

node_state=""
for _ in $(seq 150); do
  node_state=$(sinfo --noheader --Node --nodes="$NODE" --format=%T 2>/dev/null || true)
  case "$node_state" in
    idle* | mixed* | alloc*) break ;;
    down* | drain* | inval*) scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true ;;
  esac
  sleep 0.2
done
case "$node_state" in
  idle* | mixed* | alloc*) ;;
  *) die "node $NODE is '$node_state', not ready: see $STATE/slurmd.log and $STATE/slurmctld.log" ;;
esac
say "ready in $(awk -v t0="$STARTED_AT" -v t1="$(date +%s.%N)" 'BEGIN { printf "%.1f", t1 - t0 }') s:" \
    "partition $PARTITION, node $NODE ($CORES CPUs, ${MEMORY_MB} MB, $FAKE_GPUS fake GPUs); logs in $STATE"
