#!/usr/bin/env bash
# One measured run of cardea-load against a fresh Cardea: the server pinned to CPU 0, the
# tool to CPU 1, every listener on 127.0.0.1 with an ephemeral port. Prints the tool's JSON
# line; extra arguments go to `cardea-load echotest` (or to `cardea-load videoroom` when the
# first argument is `videoroom`).
#
#   bench/bench-cardea.sh --sessions 50 --duration 10
#   bench/bench-cardea.sh videoroom --subscribers 50 --video-pps 300 --duration 10
#   bench/bench-cardea.sh --sessions 10 --video-pps 300 --video-size 1100 --duration 10
#
# Binaries: CARDEA_BIN and CARDEA_LOAD_BIN, else $CARGO_TARGET_DIR/release/{cardea,cardea-load}.
# SERVER_CPU (0) and CLIENT_CPU (1) are taskset CPU lists; SHARDS=n runs n media shards; with
# THREADS=1 the CPU seconds of each server thread (utime + stime over the whole run, set-up
# included) are printed to stderr after the run.
set -euo pipefail
target="${CARGO_TARGET_DIR:-$HOME/.cache/cardea-target}"
cardea="${CARDEA_BIN:-$target/release/cardea}"
load="${CARDEA_LOAD_BIN:-$target/release/cardea-load}"
server_cpu="${SERVER_CPU:-0}"
client_cpu="${CLIENT_CPU:-1}"
scenario=echotest
case "${1:-}" in echotest | videoroom) scenario="$1"; shift ;; esac

dir="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
cp "$(dirname "$0")/loopback.yaml" "$dir/cardea.yaml"
[ -n "${SHARDS:-}" ] && printf '  shards: %d\n' "$SHARDS" >>"$dir/cardea.yaml"
: >"$dir/out"
CARDEA_SIP_UDP_PORT=0 CARDEA_SIP_TCP_PORT=0 taskset -c "$server_cpu" "$cardea" --config "$dir/cardea.yaml" >"$dir/out" 2>"$dir/log" &
pid=$!
for _ in $(seq 100); do
  grep -q '^CARDEA_READY ' "$dir/out" && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/log" >&2; exit 1; }
  sleep 0.1
done
http="$(sed -n 's/^CARDEA_READY .*"http":"\([^"]*\)".*/\1/p' "$dir/out")"
[ -n "$http" ] || { echo "cardea did not get ready" >&2; cat "$dir/log" >&2; exit 1; }

status=0
timeout 300 taskset -c "$client_cpu" "$load" "$scenario" \
  --server "http://$http/janus" --server-pid "$pid" "$@" || status=$?
if [ -n "${THREADS:-}" ]; then
  tick="$(getconf CLK_TCK)"
  echo "--- server threads, CPU s (utime + stime):" >&2
  for t in /proc/"$pid"/task/*; do
    # comm may hold spaces: the fields after its closing parenthesis are counted instead.
    awk -v tick="$tick" -v name="$(cat "$t/comm")" \
      '{ sub(/.*\) /, ""); printf "%s %.2f\n", name, ($12 + $13) / tick }' "$t/stat"
  done | sort -k2 -nr | awk '$2 > 0' >&2
fi
if grep -qE ' (WARN|ERROR) ' "$dir/log"; then
  echo "--- cardea warnings/errors:" >&2
  grep -E ' (WARN|ERROR) ' "$dir/log" | grep -v admin_secret | tail -20 >&2 || true
fi
exit "$status"
