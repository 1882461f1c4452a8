#!/usr/bin/env bash
# REGISTER-with-digest throughput: SIPp against Cardea's registrar and against Kamailio's,
# loopback only, one fresh server per run, the server pinned to CPU 0 and SIPp to CPU 1.
# One SIPp call = REGISTER → 401 → REGISTER with credentials → 200 (bench/register_bench.xml),
# users user0000..user0999 (password pw<user>) taken in turn from an injection file.
#
#   bench/sip-register.sh                     # search every server, print a table
#   bench/sip-register.sh search cardea       # search one server (cardea, kam1, kamN)
#   bench/sip-register.sh run kam1 2000       # one run at one rate
#
# A run passes when every call succeeded, none failed, SIPp retransmitted nothing, and the
# run took at most 3 % (+1 s) longer than calls/rate, i.e. SIPp kept the rate. The search
# doubles the rate from
# START_RATE until a run fails, then bisects BISECT times between the last pass and the
# first failure. "CPU µs/call" is the server's utime+stime (all its threads, or Kamailio's
# main process and all its children) over the SIPp run divided by the successful calls, i.e.
# the cost of one 401 + one 200 transaction pair. "rcvbuf drops" is the host's UDP
# RcvbufErrors delta over the run (any socket; in practice the server's or SIPp's).
#
# WORKLOAD=calls (what bench/sip-proxy.sh sets) measures routed calls instead: a SIPp UAC
# bound to 127.0.0.2 (a trusted trunk address) sends INVITE sip:9NNN@server; the server's
# routing strips the 9 and relays the call, record-routed and stateful, to a SIPp UAS on
# 127.0.0.3 (the second trunk) → 100, 180, 200 → ACK, then BYE → 200 through the route set
# (bench/proxy_uac.xml, sipp/appliance_trunk_uas.xml). Cardea routes with a dialplan rule,
# Kamailio with bench/kamailio-proxy.cfg (the same rule in its script). One call = an
# INVITE and a BYE transaction and an ACK through the proxy; "CPU µs/call" counts the
# server only.
#
# Environment: DURATION (s, default 20), START_RATE (500), BISECT (2), MAX_RATE (64000),
# KAM_CHILDREN (Kamailio's default, 8), SERVERS ("cardea kam1 kamN"), CARDEA_BIN,
# SERVER_CPU (0), CLIENT_CPU (1), KEEP=1 keeps the scratch directory. Needs sipp (sip-tester), kamailio, taskset, python3.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
target="${CARGO_TARGET_DIR:-$HOME/.cache/cardea-target}"
cardea="${CARDEA_BIN:-$target/release/cardea}"
duration="${DURATION:-20}"
start_rate="${START_RATE:-500}"
bisect="${BISECT:-2}"
max_rate="${MAX_RATE:-64000}"
kam_children="${KAM_CHILDREN:-8}"
servers="${SERVERS:-cardea kam1 kamN}"
server_cpu="${SERVER_CPU:-0}"
client_cpu="${CLIENT_CPU:-1}"
users=1000
clk_tck="$(getconf CLK_TCK)"
workload="${WORKLOAD:-register}"

work="$(mktemp -d /tmp/sip-register.XXXXXX)"
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap 'stop_server; [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"' EXIT

# --- shared inputs -------------------------------------------------------------------------
free_udp_port() {
  python3 -c 'import socket, sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1", 0)); print(s.getsockname()[1])' "$@"
}

cp "$here/loopback.yaml" "$work/cardea.yaml"
mkdir -p "$work/kamrun"
if [ "$workload" = calls ]; then
  trunk_port="$(free_udp_port 127.0.0.3)"
  cat >>"$work/cardea.yaml" <<EOF
sip:
  bind: 127.0.0.1
  udp_port: 0
  tcp_port: 0
  realm: cardea.test
  trunks:
    - name: a
      uri: "sip:127.0.0.2:5060"
      probe: 0
    - name: b
      uri: "sip:127.0.0.3:$trunk_port"
      no_answer: 5
      probe: 0
  dialplan: dialplan.yaml
EOF
  cat >"$work/dialplan.yaml" <<'EOF'
rules:
  - name: transit
    from: trunk:a
    to: { pattern: "_9X." }
    rewrite: { strip: 1 }
    action: { trunk: b }
EOF
  sed -e "s/@TRUNK_IP@/127.0.0.3/" -e "s/@TRUNK_PORT@/$trunk_port/" \
    "$here/kamailio-proxy.cfg" >"$work/kamailio.cfg"
else
  {
    echo SEQUENTIAL
    for i in $(seq 0 $((users - 1))); do printf 'user%04d;[authentication username=user%04d password=pwuser%04d]\n' "$i" "$i" "$i"; done
  } >"$work/users.csv"
  cat >>"$work/cardea.yaml" <<'EOF'
sip:
  bind: 127.0.0.1
  udp_port: 0
  tcp_port: 0
  realm: cardea.test
  max_expires: 3600
  users:
EOF
  for i in $(seq 0 $((users - 1))); do
    printf '    - username: user%04d\n      password: pwuser%04d\n' "$i" "$i"
  done >>"$work/cardea.yaml"
  cp "$here/kamailio-registrar.cfg" "$work/kamailio.cfg"
  for i in $(seq 0 $((users - 1))); do
    printf '\t$sht(users=>user%04d) = "pwuser%04d";\n' "$i" "$i"
  done >"$work/kamailio-users.cfg"
fi

# The SIPp run of one measurement toward the server on $port: the REGISTERs, or the calls
# through the proxy (with the UAS that answers them started first and stopped after).
client_run() {
  local rate="$1" calls="$2" uas_pid="" status=0
  local common=(-r "$rate" -rp 1000 -m "$calls" -l $((rate * 5 + 100))
    -timeout $((duration * 2 + 20))s -recv_timeout 5s
    -trace_stat -stf "$work/stats.csv" -fd 1 -trace_err -error_file "$work/errors.log" -nostdin)
  if [ "$workload" = calls ]; then
    taskset -c "$client_cpu" sipp -sf "$here/../sipp/appliance_trunk_uas.xml" -i 127.0.0.3 \
      -p "$trunk_port" -t u1 -m "$calls" -timeout $((duration * 2 + 25))s \
      -trace_err -error_file "$work/uas-errors.log" -nostdin >"$work/uas.out" 2>&1 &
    uas_pid=$!
    sleep 0.3
    timeout $((duration * 2 + 30)) taskset -c "$client_cpu" sipp -sf "$here/proxy_uac.xml" \
      -i 127.0.0.2 -p "$(free_udp_port 127.0.0.2)" -t u1 -s 95551234 "${common[@]}" \
      "127.0.0.1:$port" >"$work/sipp.out" 2>&1 || status=$?
    kill "$uas_pid" 2>/dev/null || true
    wait "$uas_pid" 2>/dev/null || true
  else
    timeout $((duration * 2 + 30)) taskset -c "$client_cpu" sipp \
      -sf "$here/register_bench.xml" -inf "$work/users.csv" \
      -i 127.0.0.1 -p "$(free_udp_port)" -t u1 -auth_uri cardea.test "${common[@]}" \
      "127.0.0.1:$port" >"$work/sipp.out" 2>&1 || status=$?
  fi
  return "$status"
}

# utime+stime in clock ticks of a process and all its descendants.
cpu_ticks() {
  local pids=("$1") i=0 total=0 f
  while [ $i -lt ${#pids[@]} ]; do
    for c in $(cat /proc/"${pids[$i]}"/task/*/children 2>/dev/null); do pids+=("$c"); done
    i=$((i + 1))
  done
  for p in "${pids[@]}"; do
    f="$(cat /proc/"$p"/stat 2>/dev/null)" || continue
    f="${f##*) }"
    total=$((total + $(echo "$f" | awk '{print $12 + $13}')))
  done
  echo "$total"
}

# The host's UDP RcvbufErrors counter (datagrams the kernel dropped at a full socket).
rcvbuf_errors() {
  awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c }' /proc/net/snmp
}

# Starts a fresh server; sets server_pid and port.
start_server() {
  local kind="$1"
  case "$kind" in
    cardea)
      : >"$work/cardea.out"
      taskset -c "$server_cpu" "$cardea" --config "$work/cardea.yaml" >"$work/cardea.out" 2>"$work/cardea.log" &
      server_pid=$!
      for _ in $(seq 100); do
        grep -q '^CARDEA_READY ' "$work/cardea.out" && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$work/cardea.log" >&2; return 1; }
        sleep 0.1
      done
      port="$(sed -n 's/^CARDEA_READY .*"sip_udp":"[^"]*:\([0-9]*\)".*/\1/p' "$work/cardea.out")"
      [ -n "$port" ] || { echo "cardea did not report sip_udp" >&2; cat "$work/cardea.out" >&2; return 1; }
      ;;
    kam1 | kamN)
      local n=1
      [ "$kind" = kamN ] && n="$kam_children"
      port="$(free_udp_port)"
      taskset -c "$server_cpu" kamailio -f "$work/kamailio.cfg" -DD -E -l "udp:127.0.0.1:$port" \
        -n "$n" -Y "$work/kamrun" -m 256 -M 16 >"$work/kam.log" 2>&1 &
      server_pid=$!
      for _ in $(seq 100); do
        ss -Hlun "sport = :$port" | grep -q . && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$work/kam.log" >&2; return 1; }
        sleep 0.1
      done
      sleep 0.5 # let every worker come up
      ;;
    *) echo "unknown server $kind" >&2; return 1 ;;
  esac
}

# One run; prints: server rate calls ok failed retrans achieved_cps cpu_us_per_call pass
run_one() {
  local kind="$1" rate="$2" calls cpu0 cpu1 t0 t1 stats status=0
  calls=$((rate * duration))
  start_server "$kind"
  rm -f "$work"/*.csv.stat "$work/stats.csv" "$work"/register_bench_*
  cpu0="$(cpu_ticks "$server_pid")"
  drops0="$(rcvbuf_errors)"
  t0="$(date +%s.%N)"
  (cd "$work" && client_run "$rate" "$calls") || status=$?
  t1="$(date +%s.%N)"
  cpu1="$(cpu_ticks "$server_pid")"
  drops1="$(rcvbuf_errors)"
  stop_server
  stats="$(python3 - "$work/stats.csv" <<'PY'
import sys
rows = [l.rstrip("\n").split(";") for l in open(sys.argv[1]) if l.strip()]
h, last = rows[0], rows[-1]
g = lambda k: last[h.index(k)]
print(g("SuccessfulCall(C)"), g("FailedCall(C)"), g("Retransmissions(C)"), g("ElapsedTime(C)"))
PY
)" || stats="0 ? ? ?"
  read -r ok failed retrans elapsed <<<"$stats"
  python3 - "$kind" "$rate" "$calls" "$ok" "$failed" "$retrans" "$t0" "$t1" "$cpu0" "$cpu1" "$clk_tck" "$status" $((drops1 - drops0)) <<'PY'
import sys
kind, rate, calls, ok, failed, retrans, t0, t1, c0, c1, hz, status, drops = sys.argv[1:]
rate, calls, ok = int(rate), int(calls), int(ok)
wall = float(t1) - float(t0)
cps = ok / wall if wall > 0 else 0
cpu_s = (int(c1) - int(c0)) / int(hz)
us = cpu_s * 1e6 / ok if ok else float("nan")
# SIPp kept the rate when the run took no more than 3 % over calls/rate (+1 s for the
# start and the last round trips).
passed = (ok == calls and failed == "0" and retrans == "0" and status == "0"
          and wall <= 1.03 * calls / rate + 1.0)
print(f"{kind} {rate} {calls} {ok} {failed} {retrans} {cps:.0f} {us:.1f} {100*cpu_s/wall:.0f} {drops} {'pass' if passed else 'FAIL'}")
PY
}

search() {
  local kind="$1" rate="$start_rate" good=0 bad=0 line
  while [ "$rate" -le "$max_rate" ]; do
    line="$(run_one "$kind" "$rate")"; echo "$line" >>"$work/all"; echo "  $line" >&2
    if [[ "$line" == *pass ]]; then good=$rate; rate=$((rate * 2)); else bad=$rate; break; fi
  done
  if [ "$bad" -gt 0 ] && [ "$good" -gt 0 ]; then
    for _ in $(seq "$bisect"); do
      rate=$(((good + bad) / 2))
      line="$(run_one "$kind" "$rate")"; echo "$line" >>"$work/all"; echo "  $line" >&2
      if [[ "$line" == *pass ]]; then good=$rate; else bad=$rate; fi
    done
  fi
  echo "$kind $good" >>"$work/best"
}

header() {
  printf '%-7s %7s %8s %8s %7s %8s %9s %12s %6s %8s %s\n' server rate calls ok failed retrans \
    calls/s "CPU µs/call" "CPU %" "rcvbuf drops" result
}
show() { while read -r a b c d e f g h i j k; do
  printf '%-7s %7s %8s %8s %7s %8s %9s %12s %6s %8s %s\n' "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i" "$j" "$k"
done; }

echo "kamailio: $(kamailio -v 2>/dev/null | head -1); sipp: $(sipp -v 2>/dev/null | grep -o 'SIPp v[^ ,]*' | head -1); cardea: $cardea" >&2
echo "duration ${duration}s, server on CPU $server_cpu, SIPp on CPU $client_cpu, kamN = $kam_children UDP workers" >&2
case "${1:-all}" in
  run) header; run_one "$2" "$3" | show ;;
  search) search "$2"; header; show <"$work/all"; echo; cat "$work/best" ;;
  all)
    for s in $servers; do echo "== $s" >&2; search "$s"; done
    header; show <"$work/all"
    echo
    if [ "$workload" = calls ]; then
      echo "highest passing rate (calls/s, 1 call = INVITE + ACK + BYE through the proxy):"
    else
      echo "highest passing rate (calls/s, 1 call = 2 REGISTER transactions):"
    fi
    cat "$work/best"
    ;;
  *) echo "usage: $0 [all | search <server> | run <server> <rate>]" >&2; exit 2 ;;
esac
