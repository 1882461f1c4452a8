#!/usr/bin/env bash
# The same cardea-load run against Janus 1.x (Debian package `janus`), for comparison with
# bench/bench-cardea.sh. Janus gathers no ICE candidates on `lo`, so it runs in a network
# namespace of its own, reached over a veth pair: Janus on 10.231.0.2 (CPU 0), the tool on
# 10.231.0.1 (CPU 1). Needs root (ip netns). Prints the tool's JSON line; extra arguments go to
# `cardea-load echotest`.
#
#   bench/compare.sh --sessions 50 --duration 10
#   bench/compare.sh --sessions 10 --video-pps 300 --video-size 1100 --duration 10
set -euo pipefail
target="${CARGO_TARGET_DIR:-$HOME/.cache/cardea-target}"
load="${CARDEA_LOAD_BIN:-$target/release/cardea-load}"
janus="${JANUS_BIN:-/usr/bin/janus}"
libdir="${JANUS_LIBDIR:-/usr/lib/x86_64-linux-gnu/janus}"
server_cpu="${SERVER_CPU:-0}"
client_cpu="${CLIENT_CPU:-1}"
ns="cload$$"
host_if="cl$$h"
ns_if="cl$$n"
host_ip=10.231.0.1
ns_ip=10.231.0.2

dir="$(mktemp -d)"
pid=""
cleanup() {
  [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  ip link del "$host_if" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

ip netns add "$ns"
ip link add "$host_if" type veth peer name "$ns_if"
ip link set "$ns_if" netns "$ns"
ip addr add "$host_ip/24" dev "$host_if"
ip link set "$host_if" up
ip -n "$ns" addr add "$ns_ip/24" dev "$ns_if"
ip -n "$ns" link set "$ns_if" up
ip -n "$ns" link set lo up

# Only the HTTP transport and the EchoTest plugin.
disable_in() {
  (cd "$1" && ls -- *.so 2>/dev/null | grep -v -x -e "$2" | paste -sd, -) || true
}
cat >"$dir/janus.jcfg" <<EOF
general: {
  configs_folder = "$dir"
  plugins_folder = "$libdir/plugins"
  transports_folder = "$libdir/transports"
  events_folder = "$libdir/events"
  loggers_folder = "$libdir/loggers"
  debug_level = 3
  session_timeout = 60
}
media: {
  rtp_port_range = "20000-40000"
}
nat: {
  ice_enforce_list = "$ns_if"
  ignore_mdns = true
}
plugins: {
  disable = "$(disable_in "$libdir/plugins" libjanus_echotest.so)"
}
transports: {
  disable = "$(disable_in "$libdir/transports" libjanus_http.so)"
}
loggers: {
  disable = "$(disable_in "$libdir/loggers" none)"
}
events: {
  broadcast = false
}
EOF
cat >"$dir/janus.transport.http.jcfg" <<EOF
general: {
  base_path = "/janus"
  http = true
  port = 8088
  ip = "$ns_ip"
  https = false
}
admin: {
  admin_http = false
}
EOF
echo 'general: {}' >"$dir/janus.plugin.echotest.jcfg"

ip netns exec "$ns" taskset -c "$server_cpu" "$janus" -F "$dir" -C "$dir/janus.jcfg" \
  >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  curl -sf "http://$ns_ip:8088/janus/info" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/log" >&2; exit 1; }
  sleep 0.1
done
curl -sf "http://$ns_ip:8088/janus/info" >/dev/null || { echo "janus did not get ready" >&2; tail -30 "$dir/log" >&2; exit 1; }

status=0
timeout 300 taskset -c "$client_cpu" "$load" echotest \
  --server "http://$ns_ip:8088/janus" --server-pid "$pid" --bind "$host_ip" "$@" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- janus log (tail):" >&2
  tail -30 "$dir/log" >&2
fi
exit "$status"
