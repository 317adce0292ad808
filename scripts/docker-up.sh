#!/usr/bin/env bash
# Make a Docker engine answer on this machine, idempotently, with no questions asked (CI has no stdin).
#
#   scripts/docker-up.sh            install docker.io (+ debootstrap) if missing, start dockerd, wait
#
# Environment:
#   PURELINK_DOCKER_TIMEOUT   seconds to wait for `docker info` (default 60)
#   PURELINK_DOCKERD_LOG      where dockerd logs (default /var/log/purelink-dockerd.log)
#   PURELINK_DOCKERD_FLAGS    extra dockerd flags, e.g. "--storage-driver=vfs --iptables=false"
#
# Flags: on this project's machines (root, ext4, cgroup v1, iptables-nft) a plain `dockerd` works:
# overlay2 storage, the default bridge with iptables NAT. Where overlayfs is not allowed (some nested
# sandboxes), dockerd exits at once; we then retry with `--storage-driver=vfs`, which is slower and
# bigger on disk but needs no kernel support. `--iptables=false` is only needed where iptables is
# missing; it costs the containers their outbound NAT, so we never add it on our own.
set -euo pipefail

TIMEOUT="${PURELINK_DOCKER_TIMEOUT:-60}"
LOG="${PURELINK_DOCKERD_LOG:-/var/log/purelink-dockerd.log}"
EXTRA_FLAGS="${PURELINK_DOCKERD_FLAGS:-}"

say() { echo "docker-up: $*" >&2; }

engine_answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_answers; then
    say "engine already running"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    say "the engine is not running and starting it needs root; run this script as root (or with sudo)"
    exit 1
fi

# Parallel test workers may all find the engine down at once: one starts it, the others wait for
# it here and then find it answering (a second dockerd would fight the first over its pid file).
exec 9>/tmp/purelink-docker-up.lock
flock 9
if command -v docker >/dev/null 2>&1 && engine_answers; then
    say "engine already running"
    exit 0
fi

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
    # Lock timeouts: another setup script (or unattended apt) may hold the dpkg lock for a while.
    apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null
    apt-get -o DPkg::Lock::Timeout=300 install -y -q "${missing[@]}" </dev/null >/dev/null
fi

# dockerd is started by hand because these machines have no init system to do it.
start_dockerd() {
    mkdir -p "$(dirname "$LOG")"
    say "starting dockerd $* (log: $LOG)"
    # setsid + nohup: the engine must outlive this script and the shell or test session that ran it.
    # shellcheck disable=SC2086
    setsid nohup dockerd $EXTRA_FLAGS "$@" >>"$LOG" 2>&1 </dev/null &
    DOCKERD_PID=$!
}

wait_ready() {
    local deadline=$((SECONDS + TIMEOUT))
    while [ "$SECONDS" -lt "$deadline" ]; do
        engine_answers && return 0
        kill -0 "$DOCKERD_PID" 2>/dev/null || return 2   # dockerd gave up: try other flags
        sleep 0.5
    done
    return 1
}

# A pid file left by a dockerd that died would make the next one refuse to start.
if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    rm -f /var/run/docker.pid
fi

start_dockerd
status=0
wait_ready || status=$?
if [ "$status" = 2 ]; then
    say "dockerd exited at once; retrying with --storage-driver=vfs (see $LOG for the first error)"
    start_dockerd --storage-driver=vfs
    status=0
    wait_ready || status=$?
fi

if [ "$status" != 0 ]; then
    say "the Docker engine did not answer within ${TIMEOUT}s; last lines of $LOG:"
    tail -n 20 "$LOG" >&2 || true
    exit 1
fi
say "engine ready: $(docker info --format '{{.ServerVersion}} storage={{.Driver}} cgroup={{.CgroupVersion}}')"
