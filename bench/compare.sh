#!/usr/bin/env bash
# The same cardea-load run against Janus 1.x (Debian package `janus`), for comparison with
# bench/bench-cardea.sh. Janus gathers no ICE candidates on `lo`, so it runs in a network
# namespace of its own, reached over a veth pair: Janus on 10.231.0.2 (CPU 0), the tool on
# 10.231.0.1 (CPU 1). Needs root (ip netns).
#
# EchoTest (Janus only; prints the tool's JSON line; extra arguments go to
# `cardea-load echotest`):
#
#   bench/compare.sh --sessions 50 --duration 10
#   bench/compare.sh --sessions 10 --video-pps 300 --video-size 1100 --duration 10
#
# VideoRoom fan-out, Cardea and Janus side by side: both servers run the same way (in the
# namespace, on SERVER_CPU), one fresh server per run. Each run: `cardea-load videoroom`
# creates a room (random id, publishers 1, bitrate 0, fir_freq 0), one publisher sends opus
# 50 pkt/s + VP8 VIDEO_PPS pkt/s of VIDEO_SIZE B, N subscribers receive it; WARMUP s, then a
# DURATION s window. Prints every run, the medians per (N, server) and the ratios.
#
#   bench/compare.sh videoroom                        # SUBSCRIBERS x SERVERS x REPEAT
#   bench/compare.sh videoroom run cardea 50 [cardea-load videoroom args]   # one run
#
# Streaming fan-out, the same way: `cardea-load streaming` creates an RTP mountpoint of
# janus.plugin.streaming (opus pt 111 + VP8 pt 100, ports picked by the server), feeds it
# plain RTP from the tool's side of the veth pair (opus 50 pkt/s + VP8 VIDEO_PPS pkt/s of
# VIDEO_SIZE B) and N viewers `watch` it; the same figures, medians and ratios.
#
#   bench/compare.sh streaming                        # SUBSCRIBERS (viewers) x SERVERS x REPEAT
#   bench/compare.sh streaming run janus 50 [cardea-load streaming args]    # one run
#
# AudioBridge mixing, the same way: `cardea-load audiobridge` creates a janus.plugin.audiobridge
# room (random id, sampling_rate RATE, audiolevel_event false), N participants join it and
# `configure` with an audio-only opus offer; each sends real opus 50 pkt/s (SPEAKERS of them a
# tone, the others encoded silence) with each packet's audio level in the RFC 6464 header
# extension as browsers send it (`--no-audio-level` leaves it out), and receives the mix. Figures: mix packets per
# participant per second (50 while the mixer keeps up), mix loss, server CPU per mixed
# frame-participant, RSS per participant; medians and ratios Cardea / Janus.
#
#   bench/compare.sh audiobridge                      # PARTICIPANTS x SERVERS x REPEAT
#   bench/compare.sh audiobridge run janus 25 [cardea-load audiobridge args] # one run
#
# Environment (audiobridge): PARTICIPANTS ("10 25 50 100"), SPEAKERS (2), RATE (48000), and the
# ones below but SUBSCRIBERS, VIDEO_PPS and VIDEO_SIZE.
#
# Environment (videoroom, streaming): SUBSCRIBERS ("10 50 100 200"), SERVERS ("cardea janus"), REPEAT (3),
# VIDEO_PPS (300), VIDEO_SIZE (1100), DURATION (10), WARMUP (3), SERVER_CPU (0), CLIENT_CPU (1),
# CARDEA_BIN, CARDEA_LOAD_BIN, JANUS_BIN, JANUS_LIBDIR, QUIET_WAIT (120 s) / QUIET_BUSY (15 %):
# before each run, wait at most that long for both CPUs to be at most that busy; KEEP=1 keeps
# the scratch directory (configs, logs, JSON lines); RESULTS_OUT=file copies the JSON lines;
# TRANSPORT (http): `ws` runs the tool over each server's Janus WebSocket transport instead.
set -euo pipefail
mode=echotest
case "${1:-}" in videoroom | streaming | audiobridge) mode="$1"; shift ;; esac
here="$(cd "$(dirname "$0")" && pwd)"
target="${CARGO_TARGET_DIR:-$HOME/.cache/cardea-target}"
load="${CARDEA_LOAD_BIN:-$target/release/cardea-load}"
cardea="${CARDEA_BIN:-$target/release/cardea}"
janus="${JANUS_BIN:-/usr/bin/janus}"
libdir="${JANUS_LIBDIR:-/usr/lib/x86_64-linux-gnu/janus}"
server_cpu="${SERVER_CPU:-0}"
client_cpu="${CLIENT_CPU:-1}"
ns="cload$$"
host_if="cl$$h"
ns_if="cl$$n"
host_ip=10.231.0.1
ns_ip=10.231.0.2

dir="$(mktemp -d /tmp/compare.XXXXXX)"
pid=""
stop_pid() { # pid: TERM, up to 5 s, then KILL
  local p="$1"
  [ -n "$p" ] || return 0
  kill "$p" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}
cleanup() {
  stop_pid "$pid"; pid=""
  ip link del "$host_if" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $dir" >&2; else rm -rf "$dir"; fi
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

# Only the HTTP transport (and the WebSocket one with TRANSPORT=ws) and the plugin of the
# scenario.
plugin_so=libjanus_echotest.so
[ "$mode" = videoroom ] && plugin_so=libjanus_videoroom.so
[ "$mode" = streaming ] && plugin_so=libjanus_streaming.so
[ "$mode" = audiobridge ] && plugin_so=libjanus_audiobridge.so
disable_in() { # folder keep... : every .so of the folder but those to keep, comma-separated
  local folder="$1" keep=()
  shift
  for k in "$@"; do keep+=(-e "$k"); done
  (cd "$folder" && ls -- *.so 2>/dev/null | grep -v -x "${keep[@]}" | paste -sd, -) || true
}
# TRANSPORT=ws: the tool speaks the Janus API over the WebSocket transport of each server
# (every session on one connection, events pushed) instead of HTTP with long polls.
transport="${TRANSPORT:-http}"
case "$transport" in http | ws) ;; *) echo "TRANSPORT is http or ws" >&2; exit 2 ;; esac
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
  disable = "$(disable_in "$libdir/plugins" "$plugin_so")"
}
transports: {
  disable = "$(disable_in "$libdir/transports" libjanus_http.so libjanus_websockets.so)"
}
loggers: {
  disable = "$(disable_in "$libdir/loggers" none)"
}
events: {
  broadcast = false
}
EOF
cat >"$dir/janus.transport.websockets.jcfg" <<EOF
general: {
  ws = $([ "$transport" = ws ] && echo true || echo false)
  ws_port = 8188
  ws_ip = "$ns_ip"
  wss = false
}
admin: {
  admin_ws = false
  admin_wss = false
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
# No admin_key: anyone may create rooms. Room 1234 as in Janus's sample configuration.
cat >"$dir/janus.plugin.videoroom.jcfg" <<EOF
general: {
}
room-1234: {
  description = "Demo Room"
  secret = "adminpwd"
  publishers = 6
  bitrate = 128000
  fir_freq = 10
}
EOF
# No admin_key and no sample mountpoints: the tool creates its own (RTP ports out of the
# core's ICE range).
cat >"$dir/janus.plugin.streaming.jcfg" <<EOF
general: {
  rtp_port_range = "40000-60000"
}
EOF

# No admin_key and no sample rooms: the tool creates its own.
echo 'general: {}' >"$dir/janus.plugin.audiobridge.jcfg"

if [ "$mode" != echotest ]; then
  subs_list="${SUBSCRIBERS:-10 50 100 200}"
  who=subscribers
  if [ "$mode" = audiobridge ]; then
    subs_list="${PARTICIPANTS:-10 25 50 100}"
    who=participants
  fi
  servers="${SERVERS:-cardea janus}"
  repeat="${REPEAT:-3}"
  video_pps="${VIDEO_PPS:-300}"
  video_size="${VIDEO_SIZE:-1100}"
  duration="${DURATION:-10}"
  warmup="${WARMUP:-3}"

  # Other builds may replace the binaries while the runs go on: every run uses these copies.
  cp "$cardea" "$dir/cardea-bin"
  cp "$load" "$dir/cardea-load-bin"
  echo "cardea: $cardea ($(date -u -r "$cardea" '+%F %T UTC'), sha256 $(sha256sum "$dir/cardea-bin" | cut -c1-12)); cardea-load: $(date -u -r "$load" '+%F %T UTC')" >&2
  echo "janus: $("$janus" --version 2>/dev/null | head -1)" >&2
  cardea="$dir/cardea-bin"
  load="$dir/cardea-load-bin"
  "$load" "$mode" --help >/dev/null 2>&1 || {
    echo "$load has no '$mode' scenario (built from another tree? set CARDEA_LOAD_BIN)" >&2; exit 1; }
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  # Cardea: the loopback base with every listener on the namespace address.
  sed "s/127\.0\.0\.1/$ns_ip/" "$here/loopback.yaml" >"$dir/cardea.yaml"
  # Streaming: no sample mountpoint, the tool creates its own.
  [ "$mode" = streaming ] && printf 'plugins:\n  streaming:\n    mountpoints: []\n' >>"$dir/cardea.yaml"

  ns_rcvbuf_errors() { # the namespace's UDP RcvbufErrors (the server's sockets)
    ip netns exec "$ns" awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c }' /proc/net/snmp
  }

  # Starts a fresh server in the namespace; sets pid and http (host:port).
  start_server() { # kind rundir
    local kind="$1" rdir="$2"
    case "$kind" in
      cardea)
        : >"$rdir/server.out"
        CARDEA_SIP_UDP_PORT=0 CARDEA_SIP_TCP_PORT=0 \
          ip netns exec "$ns" taskset -c "$server_cpu" "$cardea" --config "$dir/cardea.yaml" \
          >"$rdir/server.out" 2>"$rdir/server.log" &
        pid=$!
        for _ in $(seq 100); do
          grep -q '^CARDEA_READY ' "$rdir/server.out" && break
          kill -0 "$pid" 2>/dev/null || { cat "$rdir/server.log" >&2; return 1; }
          sleep 0.1
        done
        http="$(sed -n 's/^CARDEA_READY .*"http":"\([^"]*\)".*/\1/p' "$rdir/server.out")"
        ws="$(sed -n 's/^CARDEA_READY .*"ws":"\([^"]*\)".*/\1/p' "$rdir/server.out")"
        [ -n "$http" ] || { echo "cardea did not get ready" >&2; cat "$rdir/server.log" >&2; return 1; }
        ;;
      janus)
        ip netns exec "$ns" taskset -c "$server_cpu" "$janus" -F "$dir" -C "$dir/janus.jcfg" \
          >"$rdir/server.log" 2>&1 &
        pid=$!
        http="$ns_ip:8088"
        ws="$ns_ip:8188"
        for _ in $(seq 100); do
          curl -sf "http://$http/janus/info" >/dev/null 2>&1 && break
          kill -0 "$pid" 2>/dev/null || { cat "$rdir/server.log" >&2; return 1; }
          sleep 0.1
        done
        curl -sf "http://$http/janus/info" >/dev/null || { echo "janus did not get ready" >&2; tail -30 "$rdir/server.log" >&2; return 1; }
        ;;
      *) echo "unknown server $kind" >&2; return 1 ;;
    esac
  }

  # Warning and error lines of a server's log after start-up (colours stripped, start-up
  # notices left out), as JSON: {"count": n, "top": {"<message with digits as N>": n, …}}.
  warnings_of() { # kind rundir
    python3 - "$1" "$2/server.log" <<'PY'
import collections, json, re, sys
kind, path = sys.argv[1:]
ansi = re.compile(r"\x1b\[[0-9;]*m")
startup = re.compile(r"has been disabled|admin_secret|Couldn't find any address|mDNS resolution disabled")
pattern = re.compile(r" (WARN|ERROR) " if kind == "cardea" else r"\[(WARN|ERR)\]")
counts = collections.Counter()
for line in open(path, errors="replace"):
    line = ansi.sub("", line).rstrip()
    if not pattern.search(line) or startup.search(line):
        continue
    if kind == "cardea":  # drop the timestamp
        line = line.split(" ", 1)[-1]
    counts[re.sub(r"\d+", "N", line)[:160]] += 1
print(json.dumps({"count": sum(counts.values()), "top": dict(counts.most_common(5))}))
PY
  }

  # Waits (at most QUIET_WAIT s) until neither CPU is more than QUIET_BUSY % busy over 2 s:
  # other builds may share this host. Prints the last reading.
  wait_quiet() {
    python3 - "${QUIET_WAIT:-120}" "${QUIET_BUSY:-15}" <<'PY'
import sys, time
bound, limit = float(sys.argv[1]), float(sys.argv[2])
def ticks():
    out = []
    for l in open("/proc/stat"):
        if l.startswith("cpu") and not l.startswith("cpu "):
            v = [int(x) for x in l.split()[1:9]]
            out.append((sum(v) - v[3] - v[4], sum(v)))
    return out
end = time.time() + bound
while True:
    a = ticks(); time.sleep(2); b = ticks()
    busy = [round(100 * (b1 - b0) / max(t1 - t0, 1)) for (b0, t0), (b1, t1) in zip(a, b)]
    if max(busy) <= limit or time.time() >= end:
        print("/".join(map(str, busy)))
        break
PY
  }

  n_run=0
  # One run: kind subscribers label [extra cardea-load args]. Appends a JSON line to
  # $dir/results.
  run_one() {
    local kind="$1" n="$2" label="$3"
    shift 3
    n_run=$((n_run + 1))
    local rdir="$dir/$n_run-$kind-$n-$label" status=0 quiet bound d0 d1 warns
    mkdir -p "$rdir"
    quiet="$(wait_quiet)"
    start_server "$kind" "$rdir"
    # The tool's set-up bound (60 s), warm-up, window, teardown and a margin.
    bound=$(python3 -c "print(int(60 + $warmup + $duration + 90))")
    d0="$(ns_rcvbuf_errors)"
    local media_args=(--subscribers "$n" --video-pps "$video_pps" --video-size "$video_size")
    [ "$mode" = audiobridge ] &&
      media_args=(--participants "$n" --speakers "${SPEAKERS:-2}" --rate "${RATE:-48000}")
    local api="http://$http/janus"
    [ "$transport" = ws ] && api="ws://$ws"
    timeout "$bound" taskset -c "$client_cpu" "$load" "$mode" --server "$api" \
      --server-pid "$pid" --bind "$host_ip" "${media_args[@]}" \
      --duration "$duration" --warmup "$warmup" "$@" \
      >"$rdir/load.json" 2>"$rdir/load.err" || status=$?
    d1="$(ns_rcvbuf_errors)"
    stop_pid "$pid"; pid=""
    warns="$(warnings_of "$kind" "$rdir")"
    python3 - "$kind" "$n" "$label" "$rdir" "$status" $((d1 - d0)) "$warns" "$quiet" "$who" >>"$dir/results" <<'PY'
import json, sys
kind, n, label, d, status, drops, warns, quiet, who = sys.argv[1:]
try:
    r = json.loads(open(f"{d}/load.json").read().strip().splitlines()[-1])
except Exception as e:
    r = {"errors": [f"no report: {e}"]}
r.update({"kind": kind, "label": label, f"{who}_asked": int(n), "load_status": int(status),
          "ns_rcvbuf_errors": int(drops), "server_log_warnings": json.loads(warns),
          "cpu_busy_before_pct": quiet, "dir": d})
print(json.dumps(r))
PY
    tail -1 "$dir/results" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
keys = ["kind", "label", "subscribers_asked", "subscribers_connected", "relayed_pps", "loss_pct",
        "latency_ms_p99", "server_cpu_pct", "server_cpu_us_per_packet", "server_rss_kib_per_session",
        "setup_ms_p50", "client_cpu_pct", "ns_rcvbuf_errors", "load_status"]
if "participants_asked" in r:
    keys = ["kind", "label", "participants_asked", "participants_connected", "mix_pps_per_participant",
            "mix_pps_min", "mix_loss_pct", "participants_hearing_audio", "server_cpu_pct",
            "server_cpu_us_per_frame_participant", "server_rss_kib_per_participant", "setup_ms_p50",
            "client_cpu_pct", "ns_rcvbuf_errors", "load_status"]
print("  " + " ".join(f"{k}={r.get(k)}" for k in keys), file=sys.stderr)'
    if [ "$status" -ne 0 ]; then
      { echo "--- $kind $n: cardea-load exit $status; stderr:"; tail -5 "$rdir/load.err"
        echo "--- server log (tail):"; { grep -vE 'admin_secret' "$rdir/server.log" || true; } | tail -15; } >&2
    fi
  }

  table() {
    if [ "$mode" = audiobridge ]; then audiobridge_table; return; fi
    python3 - "$dir/results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def f(x, nd=1):
    return "—" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))
print("Every run:")
print()
print("| server | N | run | up / asked | relayed pkt/s | loss % (lost / expected) | video loss % | worst sub loss % | dup | server CPU % | CPU µs / relayed pkt | latency p50 / p99 / max ms | setup p50 / p99 ms | first media p50 ms | RSS KiB/session | threads | client CPU % | ns rcvbuf drops | log warnings | CPU busy before |")
print("|" + "---|" * 20)
for r in rows:
    print(f"| {r['kind']} | {r['subscribers_asked']} | {r['label']} | {f(r.get('subscribers_connected'))} / {r['subscribers_asked']} "
          f"| {f(r.get('relayed_pps'), 0)} | {f(r.get('loss_pct'), 3)} ({f(r.get('lost_packets'))} / {f(r.get('expected_packets'))}) "
          f"| {f(r.get('video_loss_pct'), 3)} | {f(r.get('worst_subscriber_loss_pct'), 3)} | {f(r.get('duplicate_packets'))} "
          f"| {f(r.get('server_cpu_pct'))} | {f(r.get('server_cpu_us_per_packet'), 2)} "
          f"| {f(r.get('latency_ms_p50'), 2)} / {f(r.get('latency_ms_p99'), 2)} / {f(r.get('latency_ms_max'), 1)} "
          f"| {f(r.get('setup_ms_p50'))} / {f(r.get('setup_ms_p99'))} | {f(r.get('first_media_ms_p50'))} "
          f"| {f(r.get('server_rss_kib_per_session'), 0)} | {f(r.get('server_threads'))} | {f(r.get('client_cpu_pct'), 0)} "
          f"| {r.get('ns_rcvbuf_errors')} | {r.get('server_log_warnings', {}).get('count')} | {r.get('cpu_busy_before_pct')} |")

groups = {}
for r in rows:
    groups.setdefault((r["subscribers_asked"], r["kind"]), []).append(r)
def med(rs, k):
    v = [r[k] for r in rs if r.get(k) is not None]
    return statistics.median(v) if v else None
keys = ["relayed_pps", "loss_pct", "server_cpu_pct", "server_cpu_us_per_packet", "latency_ms_p50",
        "latency_ms_p99", "setup_ms_p50", "setup_ms_p99", "first_media_ms_p50",
        "server_rss_kib_per_session", "server_threads", "client_cpu_pct"]
summary = {}
for key, rs in groups.items():
    summary[key] = {"n": len(rs),
                    "up": sum(r.get("subscribers_connected") or 0 for r in rs),
                    "asked": sum(r["subscribers_asked"] for r in rs),
                    "lost": sum(r.get("lost_packets") or 0 for r in rs),
                    "expected": sum(r.get("expected_packets") or 0 for r in rs),
                    "dup": sum(r.get("duplicate_packets") or 0 for r in rs),
                    **{k: med(rs, k) for k in keys}}
print()
print("Medians over the runs (subscribers up, lost, expected and duplicates summed over them):")
print()
print("| N | server | runs | up / asked | relayed pkt/s | loss % (lost / expected) | dup | server CPU % | CPU µs / relayed pkt | latency p50 / p99 ms | setup p50 / p99 ms | first media p50 ms | RSS KiB/session | threads | client CPU % |")
print("|" + "---|" * 15)
for (n, kind), m in sorted(summary.items()):
    print(f"| {n} | {kind} | {m['n']} | {m['up']} / {m['asked']} | {f(m['relayed_pps'], 0)} | {f(m['loss_pct'], 3)} ({m['lost']} / {m['expected']}) | {m['dup']} "
          f"| {f(m['server_cpu_pct'])} | {f(m['server_cpu_us_per_packet'], 2)} | {f(m['latency_ms_p50'], 2)} / {f(m['latency_ms_p99'], 2)} "
          f"| {f(m['setup_ms_p50'])} / {f(m['setup_ms_p99'])} | {f(m['first_media_ms_p50'])} | {f(m['server_rss_kib_per_session'], 0)} "
          f"| {f(m['server_threads'])} | {f(m['client_cpu_pct'], 0)} |")
print()
print("Ratios Cardea / Janus of the medians:")
print()
print("| N | CPU per relayed packet | server CPU % | loss % (Cardea / Janus) | latency p99 | RSS per session | setup p50 |")
print("|---|---|---|---|---|---|---|")
def ratio(a, b):
    return "—" if a is None or b in (None, 0) else f"{a / b:.2f}"
for (n, kind), c in sorted(summary.items()):
    if kind != "cardea" or (n, "janus") not in summary:
        continue
    j = summary[(n, "janus")]
    print(f"| {n} | {ratio(c['server_cpu_us_per_packet'], j['server_cpu_us_per_packet'])} | {ratio(c['server_cpu_pct'], j['server_cpu_pct'])} "
          f"| {f(c['loss_pct'], 3)} / {f(j['loss_pct'], 3)} | {ratio(c['latency_ms_p99'], j['latency_ms_p99'])} "
          f"| {ratio(c['server_rss_kib_per_session'], j['server_rss_kib_per_session'])} | {ratio(c['setup_ms_p50'], j['setup_ms_p50'])} |")
PY
  }

  audiobridge_table() {
    python3 - "$dir/results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def f(x, nd=1):
    return "—" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))
print("Every run:")
print()
print("| server | N | run | up / asked | mix pkt/s per participant (min) | below 49/s | mix loss % (lost) | hearing / expected | server CPU % | CPU µs / frame-participant | RSS KiB/participant | setup p50 / p99 ms | first mix p50 ms | threads | client CPU % | ns rcvbuf drops | log warnings | CPU busy before |")
print("|" + "---|" * 18)
for r in rows:
    print(f"| {r['kind']} | {r['participants_asked']} | {r['label']} | {f(r.get('participants_connected'))} / {r['participants_asked']} "
          f"| {f(r.get('mix_pps_per_participant'), 2)} ({f(r.get('mix_pps_min'), 1)}) | {f(r.get('participants_below_49pps'))} "
          f"| {f(r.get('mix_loss_pct'), 3)} ({f(r.get('mix_lost_packets'))}) | {f(r.get('participants_hearing_audio'))} / {f(r.get('participants_expected_hearing'))} "
          f"| {f(r.get('server_cpu_pct'))} | {f(r.get('server_cpu_us_per_frame_participant'), 2)} | {f(r.get('server_rss_kib_per_participant'), 0)} "
          f"| {f(r.get('setup_ms_p50'))} / {f(r.get('setup_ms_p99'))} | {f(r.get('first_mix_ms_p50'))} | {f(r.get('server_threads'))} "
          f"| {f(r.get('client_cpu_pct'), 0)} | {r.get('ns_rcvbuf_errors')} | {r.get('server_log_warnings', {}).get('count')} | {r.get('cpu_busy_before_pct')} |")
groups = {}
for r in rows:
    groups.setdefault((r["participants_asked"], r["kind"]), []).append(r)
def med(rs, k):
    v = [r[k] for r in rs if r.get(k) is not None]
    return statistics.median(v) if v else None
keys = ["mix_pps_per_participant", "mix_pps_min", "mix_loss_pct", "server_cpu_pct",
        "server_cpu_us_per_frame_participant", "server_rss_kib_per_participant", "setup_ms_p50",
        "setup_ms_p99", "first_mix_ms_p50", "server_threads", "client_cpu_pct"]
summary = {}
for key, rs in groups.items():
    summary[key] = {"n": len(rs),
                    "up": sum(r.get("participants_connected") or 0 for r in rs),
                    "asked": sum(r["participants_asked"] for r in rs),
                    "lost": sum(r.get("mix_lost_packets") or 0 for r in rs),
                    "hearing": sum(r.get("participants_hearing_audio") or 0 for r in rs),
                    "expected_hearing": sum(r.get("participants_expected_hearing") or 0 for r in rs),
                    **{k: med(rs, k) for k in keys}}
print()
print("Medians over the runs (participants up, mix packets lost and participants hearing summed over them):")
print()
print("| N | server | runs | up / asked | mix pkt/s per participant | min | mix loss % (lost) | hearing / expected | server CPU % | CPU µs / frame-participant | RSS KiB/participant | setup p50 / p99 ms | first mix p50 ms | threads | client CPU % |")
print("|" + "---|" * 15)
for (n, kind), m in sorted(summary.items()):
    print(f"| {n} | {kind} | {m['n']} | {m['up']} / {m['asked']} | {f(m['mix_pps_per_participant'], 2)} | {f(m['mix_pps_min'], 1)} "
          f"| {f(m['mix_loss_pct'], 3)} ({m['lost']}) | {m['hearing']} / {m['expected_hearing']} | {f(m['server_cpu_pct'])} "
          f"| {f(m['server_cpu_us_per_frame_participant'], 2)} | {f(m['server_rss_kib_per_participant'], 0)} "
          f"| {f(m['setup_ms_p50'])} / {f(m['setup_ms_p99'])} | {f(m['first_mix_ms_p50'])} | {f(m['server_threads'])} | {f(m['client_cpu_pct'], 0)} |")
print()
print("Ratios Cardea / Janus of the medians:")
print()
print("| N | CPU per frame-participant | server CPU % | RSS per participant | mix pkt/s per participant (Cardea / Janus) | setup p50 |")
print("|---|---|---|---|---|---|")
def ratio(a, b):
    return "—" if a is None or b in (None, 0) else f"{a / b:.2f}"
for (n, kind), c in sorted(summary.items()):
    if kind != "cardea" or (n, "janus") not in summary:
        continue
    j = summary[(n, "janus")]
    print(f"| {n} | {ratio(c['server_cpu_us_per_frame_participant'], j['server_cpu_us_per_frame_participant'])} "
          f"| {ratio(c['server_cpu_pct'], j['server_cpu_pct'])} | {ratio(c['server_rss_kib_per_participant'], j['server_rss_kib_per_participant'])} "
          f"| {f(c['mix_pps_per_participant'], 2)} / {f(j['mix_pps_per_participant'], 2)} | {ratio(c['setup_ms_p50'], j['setup_ms_p50'])} |")
sat = sorted(n for (n, kind), m in summary.items()
             if kind == "janus" and (m["mix_pps_per_participant"] or 0) < 49.0)
if sat:
    print()
    print(f"Janus's mix falls below 49 packets/s per participant at N = {', '.join(map(str, sat))}.")
PY
  }

  if [ "$mode" = audiobridge ]; then
    echo "server on CPU $server_cpu, cardea-load on CPU $client_cpu; opus 50 pkt/s per participant (${SPEAKERS:-2} speakers, ${RATE:-48000} Hz room); window ${duration}s after ${warmup}s warm-up" >&2
  else
    echo "server on CPU $server_cpu, cardea-load on CPU $client_cpu; VP8 $video_pps pkt/s × $video_size B + opus 50 pkt/s; window ${duration}s after ${warmup}s warm-up" >&2
  fi
  : >"$dir/results"
  case "${1:-all}" in
    run) kind="$2"; n="$3"; shift 3; run_one "$kind" "$n" 1 "$@" ;;
    all)
      # Repetitions outermost and the servers alternating, so both see the same host noise.
      for rep in $(seq "$repeat"); do
        for n in $subs_list; do
          for s in $servers; do echo "== $s, $n $who (run $rep)" >&2; run_one "$s" "$n" "$rep"; done
        done
      done
      ;;
    *) echo "usage: $0 $mode [all | run <cardea|janus> <N> [cardea-load $mode args]]" >&2; exit 2 ;;
  esac
  table
  cp "$dir/results" "${RESULTS_OUT:-/dev/null}" 2>/dev/null || true
  exit 0
fi

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
