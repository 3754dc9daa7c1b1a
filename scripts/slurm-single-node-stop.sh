#!/usr/bin/env bash
# Stop the one-node Slurm of scripts/slurm-single-node.sh: cancel its jobs, then stop each
# daemon through its pid file, newest first (slurmd, slurmctld, slurmdbd, MariaDB, munged).
# Harmless when nothing runs. With --purge it also deletes the state folder (job history,
# accounting database) and the generated configs, so the next start is a cold one.
set -uo pipefail

STATE=${SLURM_STATE_DIR:-/var/tmp/slurm-one-node}

running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if running "$STATE/slurmctld.pid"; then
  scancel --full --user=root >/dev/null 2>&1 && sleep 1
fi
for pidfile in "$STATE/slurmd.pid" "$STATE/slurmctld.pid" "$STATE/slurmdbd.pid" \
               "$STATE/mariadb-run/mariadb.pid" /run/munge/munged.pid; do
  if running "$pidfile"; then
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done  # 20 s grace
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$pidfile"
done
if [ "${1:-}" = "--purge" ]; then
  rm -rf "$STATE" /etc/slurm/slurm.conf /etc/slurm/slurmdbd.conf /etc/slurm/gres.conf
fi
echo "[slurm-single-node] stopped"
