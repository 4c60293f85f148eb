#!/usr/bin/env bash
# Runs tollgate in bench.sh's --gw slot, configured in Tyk's formats from the harness's data:
#   tyk.conf + apps/bench.json (listen path "/", proxied to $BENCH_UPSTREAM) + policies.json,
#   keys created through the Gateway REST API (POST /tyk/keys/{key}) on a side port first,
#   then the gateway runs in the foreground on $BENCH_PORT with the same embedded store.
# Usage: adapters/tollgate.sh PATH/TO/tollgate [--threads N] [--plain]
#   --threads N  worker threads (overrides the harness's TOKIO_WORKER_THREADS)
#   --plain      a keyless API: tollgate as a plain reverse proxy (no auth, ACL, limits)
set -euo pipefail
BIN=$(realpath "${1:?usage: tollgate.sh PATH/TO/tollgate [--threads N] [--plain]}"); shift
PLAIN=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) export TOKIO_WORKER_THREADS=$2 BENCH_THREADS=$2; shift 2 ;;
    --plain) PLAIN=1; shift ;;
    *) echo "tollgate.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
: "${BENCH_RUN_DIR:?run me from bench.sh}" "${BENCH_PORT:?}" "${BENCH_UPSTREAM:?}" "${BENCH_POLICIES:?}" "${BENCH_KEYS:?}"
D=$BENCH_RUN_DIR/tollgate-$BENCH_PORT
SEED_PORT=$((BENCH_PORT + 1000))
SECRET=bench-secret
rm -rf "$D"; mkdir -p "$D/apps" "$D/data" "$D/policies"
cp "$BENCH_POLICIES" "$D/policies/policies.json"

conf() { # port file
  cat > "$2" <<JSON
{
  "listen_address": "127.0.0.1",
  "listen_port": $1,
  "secret": "$SECRET",
  "app_path": "$D/apps",
  "policies": {"policy_source": "file", "policy_record_name": "$D/policies/policies.json"},
  "storage": {"type": "embedded", "path": "$D/data"},
  "reload": {"watch": false}
}
JSON
}
conf "$SEED_PORT" "$D/seed.conf"
conf "$BENCH_PORT" "$D/tyk.conf"
KEYLESS=false; [[ $PLAIN == 1 ]] && KEYLESS=true
cat > "$D/apps/bench.json" <<JSON
{
  "api_id": "bench-api", "name": "bench-api", "org_id": "default",
  "use_keyless": $KEYLESS,
  "auth": {"auth_header_name": "Authorization"},
  "proxy": {"listen_path": "/", "target_url": "http://$BENCH_UPSTREAM", "strip_listen_path": false},
  "version_data": {"not_versioned": true, "versions": {"Default": {"name": "Default"}}}
}
JSON

if [[ $PLAIN == 0 ]]; then
  # Phase 1: create every key through the REST API on a side port, then stop.
  "$BIN" serve --config "$D/seed.conf" > "$D/seed.log" 2>&1 &
  seed=$!
  trap 'kill "$seed" 2>/dev/null || true' EXIT
  python3 - "$SEED_PORT" "$SECRET" "$BENCH_KEYS" <<'PY'
import http.client, json, sys, time
port, secret, keys_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
deadline = time.time() + 30
while True:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/hello"); c.getresponse().read(); break
    except OSError:
        if time.time() > deadline: sys.exit("tollgate did not come up for key seeding")
        time.sleep(0.1)
keys = json.load(open(keys_file))
for k, session in keys.items():
    body = dict(session, org_id="default")
    c.request("POST", f"/tyk/keys/{k}", body=json.dumps(body),
              headers={"x-tyk-authorization": secret, "content-type": "application/json"})
    r = c.getresponse(); data = r.read()
    if r.status != 200:
        sys.exit(f"creating key failed: {r.status} {data[:200]!r}")
print(f"seeded {len(keys)} keys", file=sys.stderr)
PY
  kill -TERM "$seed"; wait "$seed" 2>/dev/null || true
  trap - EXIT
fi

# Phase 2: the gateway under test, in the foreground, logs at warn (access logs off).
export TYK_LOGLEVEL=warn
exec "$BIN" serve --config "$D/tyk.conf"
