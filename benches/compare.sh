#!/usr/bin/env bash
# Side-by-side load comparison, in one run: the upstream hit directly, nginx and HAProxy as
# plain proxies and doing the gateway's job (key map, per-key limit, regex ACL), tollgate
# with full enforcement on one worker thread and on two, and tollgate as a plain proxy
# (keyless API) on one worker. Prints ratios to the direct-upstream figure of the same
# repetition (benches/compare/README.md explains the method).
#
#   benches/compare.sh                    # defaults: 3 reps x 10 s, load + latency probes
#   benches/compare.sh --reps 5 --duration 20 --rotate 1000
#
# Needs: wrk nginx haproxy curl python3 (Debian: apt-get install wrk nginx-light haproxy).
# Everything runs on 127.0.0.1; every load run is bounded by --duration.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in wrk nginx haproxy curl python3; do
  command -v "$tool" > /dev/null || { echo "compare.sh: $tool not found (apt-get install wrk nginx-light haproxy curl)" >&2; exit 2; }
done
cargo build --release --locked --bin tollgate
BIN=target/release/tollgate
A=benches/compare/adapters/tollgate.sh
exec benches/compare/bench.sh \
  --gw tollgate 18083 "$A $BIN --threads 1" \
  --gw tollgate-2t 18086 "$A $BIN --threads 2" \
  --gw tollgate-plain 18088 "$A $BIN --threads 1 --plain" \
  "$@"
