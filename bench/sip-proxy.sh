#!/usr/bin/env bash
# Routed-call throughput, Cardea's dialplan vs Kamailio's script doing the same routing:
# bench/sip-register.sh with WORKLOAD=calls (see its header for what one call is).
#
#   bench/sip-proxy.sh                  # search cardea, kam1, kamN; print the table
#   bench/sip-proxy.sh run cardea 1000  # one run at one rate
WORKLOAD=calls exec "$(dirname "$0")/sip-register.sh" "$@"
