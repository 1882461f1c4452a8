#!/usr/bin/env bash
# WebRTC⇄SIP G.711 calls with media flowing: Cardea's janus.plugin.sip against Janus 1.1.2's
# (Debian package `janus`), in the same run, under the same load. Needs root (ip netns),
# sipp (sip-tester), janus, taskset, python3.
#
# Each run starts a fresh server and a fresh SIPp callee in one network namespace made for
# this script, reached over a veth pair (Janus gathers no ICE candidates on `lo`, see
# bench/compare.sh, so both servers run the same way): server on 10.231.0.2 pinned to
# SERVER_CPU (0); `cardea-load sip` on 10.231.0.1 and SIPp (bench/sip_uas_echo.xml with
# -rtp_echo: every RTP packet sent back unchanged) both pinned to CLIENT_CPU (1).
# Every call: create → attach janus.plugin.sip → register type guest → call
# sip:echo@10.231.0.2:<sipp port> with a PCMU-only offer → accepted → webrtcup → PCMU 50
# packets/s each way for WARMUP + DURATION s → hangup → hangup event → destroy.
#
#   bench/sip-compare.sh                        # CALLS for each server, then the set-up runs
#   bench/sip-compare.sh run cardea 200         # one media run
#   SETUP_RATE=5 bench/sip-compare.sh run janus 100
#   bench/sip-compare.sh setup janus 100        # one set-up run (unpaced, short window)
#
# Environment: CALLS ("50 100 200"), SERVERS ("cardea janus"), REPEAT (1: every run once;
# the tables then give medians over the repetitions), DURATION (10), WARMUP (3),
# SETUP_RATE (10 calls/s for the media runs), SETUP_CALLS (100), SETUP_CONCURRENCY (16,
# set-up runs), SERVER_CPU (0), CLIENT_CPU (1), CARDEA_BIN, CARDEA_LOAD_BIN, JANUS_BIN,
# JANUS_LIBDIR, QUIET_WAIT (180 s) / QUIET_BUSY (15 %): before each run, wait at most that
# long for both CPUs to be at most that busy (other builds share the host), KEEP=1 keeps the scratch directory (configs, logs, JSON lines),
# PERF_SECONDS=n runs `perf record -F 999 -g -o <run>/perf.data` on the server for n s inside
# the window (use with KEEP=1); PERF_CMD replaces `record …`, e.g.
# PERF_CMD="stat -e context-switches,raw_syscalls:sys_enter" (output in <run>/perf.log).
# Every process is bounded by `timeout`; the namespace is removed on exit.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
target="${CARGO_TARGET_DIR:-$HOME/.cache/cardea-target}"
cardea="${CARDEA_BIN:-$target/release/cardea}"
load="${CARDEA_LOAD_BIN:-$target/release/cardea-load}"
janus="${JANUS_BIN:-/usr/bin/janus}"
libdir="${JANUS_LIBDIR:-/usr/lib/x86_64-linux-gnu/janus}"
calls_list="${CALLS:-50 100 200}"
servers="${SERVERS:-cardea janus}"
duration="${DURATION:-10}"
warmup="${WARMUP:-3}"
setup_rate="${SETUP_RATE:-10}"
setup_calls="${SETUP_CALLS:-100}"
setup_concurrency="${SETUP_CONCURRENCY:-16}"
repeat="${REPEAT:-1}"
server_cpu="${SERVER_CPU:-0}"
client_cpu="${CLIENT_CPU:-1}"
ns="csip$$"
host_if="cs$$h"
ns_if="cs$$n"
host_ip=10.231.0.1
ns_ip=10.231.0.2
sip_port=5070   # SIPp, the callee
media_port=16000 # SIPp's RTP echo port (one for all calls)

work="$(mktemp -d /tmp/sip-compare.XXXXXX)"
server_pid=""
sipp_pid=""
stop_pid() { # pid: TERM, up to 5 s, then KILL
  local p="$1"
  [ -n "$p" ] || return 0
  kill "$p" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}
cleanup() {
  stop_pid "$sipp_pid"; sipp_pid=""
  stop_pid "$server_pid"; server_pid=""
  ip link del "$host_if" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Other builds may replace the binaries while the runs go on: every run uses these copies.
cp "$cardea" "$work/cardea-bin"
cp "$load" "$work/cardea-load-bin"
echo "cardea: $cardea ($(date -u -r "$cardea" '+%F %T UTC'), sha256 $(sha256sum "$work/cardea-bin" | cut -c1-12))" >&2
cardea="$work/cardea-bin"
load="$work/cardea-load-bin"
"$load" sip --help >/dev/null 2>&1 || {
  echo "$load has no 'sip' scenario (built from another tree? set CARDEA_LOAD_BIN)" >&2; exit 1; }

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
ip netns add "$ns"
ip link add "$host_if" type veth peer name "$ns_if"
ip link set "$ns_if" netns "$ns"
ip addr add "$host_ip/24" dev "$host_if"
ip link set "$host_if" up
ip -n "$ns" addr add "$ns_ip/24" dev "$ns_if"
ip -n "$ns" link set "$ns_if" up
ip -n "$ns" link set lo up

# --- configurations ------------------------------------------------------------------------
# Cardea: the loopback base with every listener on the namespace address; the SIP endpoint
# on 5060; plain RTP toward SIP from media.rtp_port_range (default 20000-40000).
sed "s/127\.0\.0\.1/$ns_ip/" "$here/loopback.yaml" >"$work/cardea.yaml"
cat >>"$work/cardea.yaml" <<EOF
sip:
  bind: $ns_ip
  udp_port: 5060
  tcp_port: 5060
  realm: cardea.test
EOF

# Janus: only the HTTP transport and the SIP plugin; SIP and its RTP on the namespace address.
disable_in() {
  (cd "$1" && ls -- *.so 2>/dev/null | grep -v -x -e "$2" | paste -sd, -) || true
}
mkdir -p "$work/janus"
cat >"$work/janus/janus.jcfg" <<EOF
general: {
  configs_folder = "$work/janus"
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
  disable = "$(disable_in "$libdir/plugins" libjanus_sip.so)"
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
cat >"$work/janus/janus.transport.http.jcfg" <<EOF
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
cat >"$work/janus/janus.plugin.sip.jcfg" <<EOF
general: {
  local_ip = "$ns_ip"
  local_media_ip = "$ns_ip"
  sdp_ip = "$ns_ip"
  keepalive_interval = 0
  behind_nat = false
  register_ttl = 3600
  rtp_port_range = "40000-60000"
  sip_timer_t1x64 = 32000
  events = false
}
EOF

rcvbuf_errors() { # the namespace's UDP RcvbufErrors (server and SIPp sockets)
  ip netns exec "$ns" awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c }' /proc/net/snmp
}

# Starts a fresh server in the namespace; sets server_pid and http (host:port).
start_server() {
  local kind="$1" dir="$2"
  case "$kind" in
    cardea)
      : >"$dir/server.out"
      ip netns exec "$ns" taskset -c "$server_cpu" "$cardea" --config "$work/cardea.yaml" \
        >"$dir/server.out" 2>"$dir/server.log" &
      server_pid=$!
      for _ in $(seq 100); do
        grep -q '^CARDEA_READY ' "$dir/server.out" && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$dir/server.log" >&2; return 1; }
        sleep 0.1
      done
      http="$(sed -n 's/^CARDEA_READY .*"http":"\([^"]*\)".*/\1/p' "$dir/server.out")"
      [ -n "$http" ] || { echo "cardea did not get ready" >&2; cat "$dir/server.log" >&2; return 1; }
      ;;
    janus)
      ip netns exec "$ns" taskset -c "$server_cpu" "$janus" -F "$work/janus" \
        -C "$work/janus/janus.jcfg" >"$dir/server.log" 2>&1 &
      server_pid=$!
      http="$ns_ip:8088"
      for _ in $(seq 100); do
        curl -sf "http://$http/janus/info" >/dev/null 2>&1 && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$dir/server.log" >&2; return 1; }
        sleep 0.1
      done
      curl -sf "http://$http/janus/info" >/dev/null || { echo "janus did not get ready" >&2; tail -30 "$dir/server.log" >&2; return 1; }
      ;;
    *) echo "unknown server $kind" >&2; return 1 ;;
  esac
}

# Warning and error lines of a server's log after start-up (ANSI colours stripped, the
# start-up notices about disabled plugins, the admin secret and address guessing left out),
# as JSON: {"count": n, "top": {"<message with digits as N>": n, …}}.
warnings_of() { # kind dir
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

# Waits (at most QUIET_WAIT s, default 180) until neither CPU is more than QUIET_BUSY %
# (default 15) busy over 2 s: other builds share this host. Prints the last reading.
wait_quiet() {
  python3 - "${QUIET_WAIT:-180}" "${QUIET_BUSY:-15}" <<'PY'
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
# One run: kind calls label [extra cardea-load args]. Appends a JSON line to $work/results.
run_one() {
  local kind="$1" calls="$2" label="$3"
  shift 3
  n_run=$((n_run + 1))
  local dir="$work/$n_run-$kind-$calls-$label" status=0 bound
  mkdir -p "$dir"
  local quiet
  quiet="$(wait_quiet)"
  local sport=$((sip_port + 2 * n_run)) mport=$((media_port + 4 * n_run))
  # Set-up at the slowest rate asked, the window, the hang-ups and a margin.
  bound=$(python3 -c "print(int($calls / max($setup_rate, 1) + 30 + $warmup + $duration + 90))")
  ip netns exec "$ns" timeout "$bound" taskset -c "$client_cpu" sipp -sf "$here/sip_uas_echo.xml" \
    -i "$ns_ip" -p "$sport" -mi "$ns_ip" -mp "$mport" -rtp_echo -t u1 \
    -m "$calls" -l $((calls + 50)) -timeout "$((bound - 5))s" -nostdin \
    -trace_stat -stf "$dir/sipp-stats.csv" -fd 1 -trace_err -error_file "$dir/sipp-errors.log" \
    >"$dir/sipp.out" 2>&1 &
  sipp_pid=$!
  start_server "$kind" "$dir"
  local drops0 drops1 t0 t1
  drops0="$(rcvbuf_errors)"
  t0="$(date +%s.%N)"
  if [ -n "${PERF_SECONDS:-}" ]; then
    # A profile of the server inside the window (perf's own cost lands in the figures: runs
    # with PERF_SECONDS are for finding where the time goes, not for the table).
    ( sleep "$(python3 -c "print($calls / max($setup_rate, 1) + $warmup + 1)")"
      # shellcheck disable=SC2086 # PERF_CMD is a list of words
      timeout $((PERF_SECONDS + 30)) perf ${PERF_CMD:-record -F 999 -g -o "$dir/perf.data"} \
        -p "$server_pid" -- sleep "$PERF_SECONDS" >"$dir/perf.log" 2>&1 ) &
  fi
  # Which sockets drop: the `drops` column of the namespace's /proc/net/udp, every second
  # (a call's RTP sockets close when it ends, and their counters with them).
  ( while :; do ip netns exec "$ns" cat /proc/net/udp >>"$dir/udp-table" 2>/dev/null; sleep 1; done ) &
  local sampler=$!
  timeout "$bound" taskset -c "$client_cpu" "$load" sip --server "http://$http/janus" \
    --server-pid "$server_pid" --bind "$host_ip" --sip-target "sip:echo@$ns_ip:$sport" \
    --sessions "$calls" --duration "$duration" --warmup "$warmup" --setup-rate "$setup_rate" \
    "$@" >"$dir/load.json" 2>"$dir/load.err" || status=$?
  t1="$(date +%s.%N)"
  drops1="$(rcvbuf_errors)"
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  # SIPp ends by itself after `calls` calls; a call that never reached it keeps it waiting.
  for _ in $(seq 100); do kill -0 "$sipp_pid" 2>/dev/null || break; sleep 0.1; done
  stop_pid "$sipp_pid"; sipp_pid=""
  stop_pid "$server_pid"; server_pid=""
  local warns
  warns="$(warnings_of "$kind" "$dir")"
  python3 - "$kind" "$calls" "$label" "$dir" "$status" $((drops1 - drops0)) "$warns" "$t0" "$t1" "$quiet" "$sport" "$mport" >>"$work/results" <<'PY'
import json, sys
kind, calls, label, d, status, drops, warns, t0, t1, quiet, sport, mport = sys.argv[1:]
socket_drops = {}
try:
    most = {}  # (port, inode) -> highest drop count seen
    for row in open(f"{d}/udp-table").read().splitlines():
        cols = row.split()
        if len(cols) < 13 or not cols[0].endswith(":") or cols[0] == "sl":
            continue
        key = (int(cols[1].rsplit(":", 1)[1], 16), cols[9])
        most[key] = max(most.get(key, 0), int(cols[-1]))
    for (port, _), n in most.items():
        if n:
            who = {int(sport): "sipp_sip", int(mport): "sipp_rtp"}.get(port, "server")
            socket_drops[who] = socket_drops.get(who, 0) + n
except Exception as e:
    socket_drops = {"error": str(e)}
try:
    r = json.loads(open(f"{d}/load.json").read().strip().splitlines()[-1])
except Exception as e:
    r = {"errors": [f"no report: {e}"]}
try:
    rows = [l.rstrip("\n").split(";") for l in open(f"{d}/sipp-stats.csv") if l.strip()]
    h, last = rows[0], rows[-1]
    g = lambda k: int(last[h.index(k)])
    sipp = {"ok": g("SuccessfulCall(C)"), "failed": g("FailedCall(C)"),
            "retrans": g("Retransmissions(C)"), "dead_msgs": g("DeadCallMsgs(C)"),
            "out_of_call": g("OutOfCallMsgs(C)")}
except Exception as e:
    sipp = {"error": str(e)}
r.update({"kind": kind, "label": label, "calls_asked": int(calls), "load_status": int(status),
          "ns_rcvbuf_errors": int(drops), "ns_socket_drops": socket_drops,
          "server_log_warnings": json.loads(warns), "sipp": sipp,
          "run_wall_s": round(float(t1) - float(t0), 1), "cpu_busy_before_pct": quiet, "dir": d})
print(json.dumps(r))
PY
  tail -1 "$work/results" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
keys = ["kind", "label", "calls_asked", "calls_connected", "calls_failed", "calls_dropped",
        "loss_pct", "server_cpu_pct", "server_cpu_us_per_packet", "setup_calls_per_s",
        "setup_ms_p50", "setup_ms_p99", "server_threads", "sipp"]
print("  " + " ".join(f"{k}={r.get(k)}" for k in keys), file=sys.stderr)'
  if [ "$status" -ne 0 ]; then
    { echo "--- $kind $calls: cardea-load exit $status; stderr:"; tail -5 "$dir/load.err"
      echo "--- server log (tail):"; { grep -vE 'admin_secret' "$dir/server.log" || true; } | tail -15
      echo "--- sipp errors (tail):"; tail -5 "$dir/sipp-errors.log" 2>/dev/null || true; } >&2
  fi
}

table() {
  python3 - "$work/results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def f(x, nd=1):
    return "—" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))
print("Every run:")
print()
print("| server | run | calls up / asked | failed | dropped | loss % | server CPU % | µs/echo (µs/pkt) | calls/core (linear) | RSS KiB/call | threads before→during | setup p50 / p99 ms | call p50 ms | achieved setups/s | hangup p50 ms (out of order) | SIPp ok/failed/retrans | ns rcvbuf drops | log warnings | CPU0 / CPU1 busy % (before run) | client CPU % |")
print("|" + "---|" * 20)
for r in rows:
    s = r.get("sipp", {})
    print(f"| {r['kind']} | {r['label']} | {f(r.get('calls_connected'))} / {r['calls_asked']} | {f(r.get('calls_failed'))} | {f(r.get('calls_dropped'))} "
          f"| {f(r.get('loss_pct'), 3)} | {f(r.get('server_cpu_pct'))} | {f(r.get('server_cpu_us_per_echo'))} ({f(r.get('server_cpu_us_per_packet'))}) "
          f"| {f(r.get('calls_per_core_linear'), 0)} | {f(r.get('server_rss_kib_per_call'))} | {f(r.get('server_threads_before'))}→{f(r.get('server_threads'))} "
          f"| {f(r.get('setup_ms_p50'))} / {f(r.get('setup_ms_p99'))} | {f(r.get('call_ms_p50'))} | {f(r.get('setup_calls_per_s'))} | {f(r.get('hangup_ms_p50'))} ({f(r.get('hangups_out_of_order'))}) "
          f"| {s.get('ok')}/{s.get('failed')}/{s.get('retrans')} | {r.get('ns_rcvbuf_errors')} | {r.get('server_log_warnings', {}).get('count')} "
          f"| {' / '.join(f(x, 0) for x in r.get('cpu_busy_pct', [])) or '—'} ({r.get('cpu_busy_before_pct')}) | {f(r.get('client_cpu_pct'), 0)} |")

# Medians over the repetitions of each (run, calls, server); failures are summed.
groups = {}
for r in rows:
    groups.setdefault((r["label"], r["calls_asked"], r["kind"]), []).append(r)
def med(rs, k):
    v = [r[k] for r in rs if r.get(k) is not None]
    return statistics.median(v) if v else None
def tot(rs, k):
    return sum(r.get(k) or 0 for r in rs)
summary = {}
for key, rs in groups.items():
    summary[key] = {
        "n": len(rs), "calls": tot(rs, "calls"), "failed": tot(rs, "calls_failed"),
        "dropped": tot(rs, "calls_dropped"), "lost": tot(rs, "lost_packets"), "sent": tot(rs, "sent_packets"),
        "loss_max": max((r.get("loss_pct") or 0) for r in rs),
        **{k: med(rs, k) for k in ["server_cpu_pct", "server_cpu_us_per_packet", "server_cpu_us_per_echo",
                                   "calls_per_core_linear", "server_rss_kib_per_call", "server_threads_per_call",
                                   "setup_ms_p50", "setup_ms_p99", "call_ms_p50", "setup_calls_per_s",
                                   "latency_ms_p50", "latency_ms_p99"]},
    }
print()
print("Medians over the repetitions (failed, dropped and lost summed over them):")
print()
print("| server | run | calls | runs | failed / dropped calls | lost / sent probes (worst run %) | server CPU % | µs per packet | calls/core (linear) | RSS KiB/call | threads/call | latency p50 / p99 ms | setup p50 / p99 ms | call p50 ms | achieved setups/s |")
print("|" + "---|" * 15)
for (label, n, kind), m in sorted(summary.items(), key=lambda x: (x[0][0], x[0][1], x[0][2])):
    print(f"| {kind} | {label} | {n} | {m['n']} | {m['failed']} / {m['dropped']} | {m['lost']} / {m['sent']} ({f(m['loss_max'], 3)}) "
          f"| {f(m['server_cpu_pct'])} | {f(m['server_cpu_us_per_packet'])} | {f(m['calls_per_core_linear'], 0)} | {f(m['server_rss_kib_per_call'])} "
          f"| {f(m['server_threads_per_call'], 2)} | {f(m['latency_ms_p50'], 2)} / {f(m['latency_ms_p99'], 2)} | {f(m['setup_ms_p50'])} / {f(m['setup_ms_p99'])} "
          f"| {f(m['call_ms_p50'])} | {f(m['setup_calls_per_s'])} |")
print()
print("Ratios of the medians:")
print()
print("| run | calls | Janus/Cardea CPU per packet | Cardea/Janus calls per core (linear) | Cardea/Janus achieved setups/s | Janus/Cardea RSS per call | threads per call Janus / Cardea |")
print("|---|---|---|---|---|---|---|")
def ratio(a, b):
    return "—" if a in (None, 0) or b in (None, 0) else f"{a / b:.1f}×"
for (label, n, kind), c in sorted(summary.items(), key=lambda x: (x[0][0], x[0][1])):
    if kind != "cardea" or (label, n, "janus") not in summary:
        continue
    j = summary[(label, n, "janus")]
    print(f"| {label} | {n} | {ratio(j['server_cpu_us_per_packet'], c['server_cpu_us_per_packet'])} "
          f"| {ratio(c['calls_per_core_linear'], j['calls_per_core_linear'])} "
          f"| {ratio(c['setup_calls_per_s'], j['setup_calls_per_s'])} "
          f"| {ratio(j['server_rss_kib_per_call'], c['server_rss_kib_per_call'])} "
          f"| {f(j['server_threads_per_call'], 2)} / {f(c['server_threads_per_call'], 2)} |")
PY
}

echo "janus: $("$janus" --version 2>/dev/null | head -1); sipp: $(sipp -v 2>/dev/null | grep -o 'SIPp v[^ ,]*' | head -1)" >&2
echo "server on CPU $server_cpu, cardea-load and SIPp on CPU $client_cpu; window ${duration}s after ${warmup}s warm-up; media runs set up at $setup_rate calls/s" >&2
: >"$work/results"
case "${1:-all}" in
  run) kind="$2"; n="$3"; shift 3; run_one "$kind" "$n" media "$@" ;;
  setup)
    kind="$2"; n="${3:-$setup_calls}"; shift $(( $# < 3 ? $# : 3 ))
    setup_rate=0 duration=2 warmup=0 run_one "$kind" "$n" setup \
      --setup-concurrency "$setup_concurrency" "$@"
    ;;
  all)
    # Repetitions outermost and the servers alternating, so both see the same host noise.
    for rep in $(seq "$repeat"); do
      for n in $calls_list; do
        for s in $servers; do echo "== $s, $n calls (repetition $rep)" >&2; run_one "$s" "$n" media; done
      done
      for s in $servers; do
        echo "== $s, set-up run: $setup_calls calls, unpaced, $setup_concurrency at once (repetition $rep)" >&2
        setup_rate=0 duration=2 warmup=0 run_one "$s" "$setup_calls" setup \
          --setup-concurrency "$setup_concurrency"
      done
    done
    ;;
  *) echo "usage: $0 [all | run <cardea|janus> <calls> [cardea-load args] | setup <cardea|janus> [calls]]" >&2; exit 2 ;;
esac
table
cp "$work/results" "${RESULTS_OUT:-/dev/null}" 2>/dev/null || true
