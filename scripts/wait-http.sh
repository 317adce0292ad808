# Sourced by the scripts that start a local service in the background (bq-emulator.sh, moto-up.sh):
#
#   wait_for_http NAME URL PID LOG    returns once URL answers; exits 1, with the tail of LOG, if
#                                     the process PID ends first or nothing answers within 120 s
#
# Polled, not slept: a busy machine may take many seconds to import the service's libraries.
wait_for_http() {
    local name="$1" url="$2" pid="$3" log="$4"
    for _ in $(seq 1 600); do
        curl -s -o /dev/null "$url" && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$name: the service exited at start; its log ($log):" >&2
            tail -20 "$log" >&2
            exit 1
        fi
        sleep 0.2
    done
    echo "$name: no answer on $url after 120 s; log: $log" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
}
