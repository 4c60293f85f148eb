#!/usr/bin/env bash
# Side-by-side gateway benchmark on loopback: direct upstream vs nginx / HAProxy
# (plain proxy and "gateway-equivalent" configs) vs our gateway binary(ies).
# Everything is reported as RATIOS to the direct-upstream run of the same repetition.
#
# Usage:
#   bench/bench.sh [options] [--gw NAME PORT 'COMMAND']...
#
#   --gw NAME PORT 'CMD'   add our gateway as a contender (repeatable). CMD must run in the
#                          foreground, listen on 127.0.0.1:PORT and proxy to $BENCH_UPSTREAM.
#                          It gets: BENCH_LISTEN, BENCH_PORT, BENCH_UPSTREAM, BENCH_POLICIES
#                          (Tyk-style policies.json), BENCH_KEYS (key -> policies json),
#                          BENCH_RUN_DIR, BENCH_THREADS and TOKIO_WORKER_THREADS (= --gw-threads).
#   --gw-threads N         worker threads granted to --gw contenders (default 1, like nginx/haproxy)
#   -r, --reps N           repetitions, interleaved round-robin, order rotated (default 3)
#   -d, --duration S       seconds per measured run (default 10)
#   -w, --warmup S         unrecorded warm-up seconds before each run (default 2)
#   -c, --conns N          connections of the throughput probe (default 64)
#   -t, --threads N        wrk threads of the throughput probe (default 2)
#   --lat-conns N          connections of the latency probe (default 1, 1 thread)
#   --only LIST            comma list of contenders to run (direct is always kept)
#                          known: direct,nginx-plain,haproxy-plain,nginx,haproxy + --gw names
#   --probes LIST          subset of load,lat (default load,lat)
#   --layout float|split   CPU placement (default float; see README.md)
#   --keys N               keys generated in the key map (default 10000)
#   --rotate N             rotate over N distinct (unlimited) keys under load (default 0 = one key)
#   --out DIR              results directory (default $TMPDIR/tollgate-bench/<UTC timestamp>)
#   --no-check             skip functional checks
#   -h, --help
#
# Only 127.0.0.1 is ever contacted. Every load run is bounded by --duration.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPS=3; DURATION=10; WARMUP=2; CONNS=64; THREADS=2; LAT_CONNS=1
LAYOUT=float; KEYS=10000; ROTATE=0; ONLY=""; PROBES="load,lat"; CHECK=1; GW_THREADS=1
OUT=""
UP_PORT=18080; NGINX_PORT=18081; HAPROXY_PORT=18082; NGINX_PLAIN_PORT=18084; HAPROXY_PLAIN_PORT=18085
REQ_PATH=/api/users/12345
BENCH_RATE=1000000
GW_NAMES=(); GW_PORTS=(); GW_CMDS=()

die() { echo "bench: $*" >&2; exit 2; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --gw) [[ $# -ge 4 ]] || die "--gw needs NAME PORT CMD"
          GW_NAMES+=("$2"); GW_PORTS+=("$3"); GW_CMDS+=("$4"); shift 4 ;;
    --gw-threads) GW_THREADS=$2; shift 2 ;;
    -r|--reps) REPS=$2; shift 2 ;;
    -d|--duration) DURATION=$2; shift 2 ;;
    -w|--warmup) WARMUP=$2; shift 2 ;;
    -c|--conns) CONNS=$2; shift 2 ;;
    -t|--threads) THREADS=$2; shift 2 ;;
    --lat-conns) LAT_CONNS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --probes) PROBES=$2; shift 2 ;;
    --layout) LAYOUT=$2; shift 2 ;;
    --keys) KEYS=$2; shift 2 ;;
    --rotate) ROTATE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-check) CHECK=0; shift ;;
    -h|--help) usage ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[[ "$LAYOUT" == float || "$LAYOUT" == split ]] || die "--layout must be float or split"
for t in wrk nginx haproxy curl python3 taskset ss; do command -v "$t" >/dev/null || die "missing tool: $t"; done
[[ "$(nproc)" -ge 2 || "$LAYOUT" == float ]] || die "--layout split needs 2 CPUs"

# ---------------------------------------------------------------- placement
# float: nothing pinned, every process may use every CPU; the system under test (SUT) is
#        limited to ONE worker/thread, so all contenders get the same CPU budget.
# split: client (wrk) on CPU0, SUT on CPU1, upstream on CPU0 (on CPU1 when it is itself
#        the SUT, i.e. the direct run). Deterministic, but the client+upstream core can cap
#        fast contenders; see README.md.
ALLCPUS="0-$(( $(nproc) - 1 ))"
if [[ "$LAYOUT" == split ]]; then CPU_CLIENT=0; CPU_SUT=1; CPU_UP=0; else CPU_CLIENT=$ALLCPUS; CPU_SUT=$ALLCPUS; CPU_UP=$ALLCPUS; fi

# ---------------------------------------------------------------- run dir
RUN=${OUT:-${TMPDIR:-/tmp}/tollgate-bench/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$RUN/tmp"
RUN=$(cd "$RUN" && pwd)
RESULTS=$RUN/results.jsonl
: > "$RESULTS"
LOG=$RUN/bench.log
exec > >(tee -a "$LOG") 2>&1
echo "bench: run dir $RUN"

python3 "$HERE/lib/gen_keys.py" --out "$RUN" --keys "$KEYS" --bench-keys "$(( ROTATE > 1 ? ROTATE : 1 ))" --bench-rate "$BENCH_RATE"
BENCH_KEY=$(cat "$RUN/bench.key")

render() { # template port out
  sed -e "s#@RUN@#$RUN#g" -e "s#@UPSTREAM_PORT@#$UP_PORT#g" -e "s#@UPSTREAM_WORKERS@#1#g" \
      -e "s#@PORT@#$2#g" -e "s#@BENCH_RATE@#$BENCH_RATE#g" "$1" > "$3"
}

# ---------------------------------------------------------------- process bookkeeping
STARTED=()          # root PIDs we started (stopped by PID at exit, never by name)
declare -A PID_OF   # contender -> root pid
declare -A PORT_OF  # contender -> port
stop_all() {
  local p
  for p in "${STARTED[@]:-}"; do [[ -n "$p" ]] && kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local alive=0
    for p in "${STARTED[@]:-}"; do [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break; sleep 0.1
  done
  for p in "${STARTED[@]:-}"; do [[ -n "$p" ]] && kill -KILL "$p" 2>/dev/null || true; done
}
trap 'stop_all' EXIT
trap 'exit 130' INT TERM

port_busy() { ss -Hltn "sport = :$1" | grep -q .; }
wait_port() { # port seconds
  local i
  for i in $(seq $(( $2 * 10 ))); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/" && return 0
    sleep 0.1
  done
  return 1
}
pin_tree() { # cpulist rootpid : re-pin a whole process tree, all threads
  local cpus=$1 root=$2 p
  for p in $(python3 -c "import sys; sys.path.insert(0,'$HERE/lib'); import measure; print(' '.join(map(str, measure.tree([$root]))))"); do
    taskset -a -p -c "$cpus" "$p" >/dev/null 2>&1 || true
  done
}
start_bg() { # name port cpus cmd... : start in background, record pid
  local name=$1 port=$2 cpus=$3; shift 3
  port_busy "$port" && die "port $port already in use (needed by $name)"
  taskset -c "$cpus" "$@" > "$RUN/$name.out" 2>&1 &
  local pid=$!
  STARTED+=("$pid"); PID_OF[$name]=$pid; PORT_OF[$name]=$port
  wait_port "$port" "${BENCH_START_WAIT_S:-180}" || { tail -20 "$RUN/$name.out" >&2; die "$name did not come up on port $port"; }
  echo "bench: started $name pid=$pid port=$port cpus=$cpus"
}

start_nginx() { # name template port cpus
  local conf=$RUN/$1.conf
  render "$2" "$3" "$conf"
  sed -i '1i daemon off;' "$conf"
  start_bg "$1" "$3" "$4" nginx -c "$conf" -p "$RUN/" -e "$RUN/$1.error.log"
}
start_haproxy() { # name template port cpus
  local conf=$RUN/$1.cfg
  render "$2" "$3" "$conf"
  start_bg "$1" "$3" "$4" haproxy -db -f "$conf"
}

# ---------------------------------------------------------------- contenders
ALL=(direct nginx-plain haproxy-plain nginx haproxy "${GW_NAMES[@]}")
CONTENDERS=()
if [[ -n "$ONLY" ]]; then
  IFS=, read -r -a want <<< "$ONLY"
  CONTENDERS=(direct)
  for c in "${ALL[@]}"; do for w in "${want[@]}"; do [[ "$c" == "$w" && "$c" != direct ]] && CONTENDERS+=("$c"); done; done
else
  CONTENDERS=("${ALL[@]}")
fi
has() { local x; for x in "${CONTENDERS[@]}"; do [[ "$x" == "$1" ]] && return 0; done; return 1; }

echo "bench: load before start: $(cat /proc/loadavg)"
start_nginx upstream "$HERE/conf/upstream.nginx.conf.tmpl" "$UP_PORT" "$CPU_UP"
PID_OF[direct]=${PID_OF[upstream]}; PORT_OF[direct]=$UP_PORT
has nginx-plain   && start_nginx   nginx-plain   "$HERE/conf/plain.nginx.conf.tmpl"  "$NGINX_PLAIN_PORT"   "$CPU_SUT"
has haproxy-plain && start_haproxy haproxy-plain "$HERE/conf/plain.haproxy.cfg.tmpl" "$HAPROXY_PLAIN_PORT" "$CPU_SUT"
has nginx         && start_nginx   nginx         "$HERE/conf/gw.nginx.conf.tmpl"     "$NGINX_PORT"         "$CPU_SUT"
has haproxy       && start_haproxy haproxy       "$HERE/conf/gw.haproxy.cfg.tmpl"    "$HAPROXY_PORT"       "$CPU_SUT"
for i in "${!GW_NAMES[@]}"; do
  n=${GW_NAMES[$i]}; p=${GW_PORTS[$i]}; cmd=${GW_CMDS[$i]}
  has "$n" || continue
  start_bg "$n" "$p" "$CPU_SUT" env \
    BENCH_LISTEN="127.0.0.1:$p" BENCH_PORT="$p" BENCH_UPSTREAM="127.0.0.1:$UP_PORT" \
    BENCH_POLICIES="$RUN/policies.json" BENCH_KEYS="$RUN/keys.json" BENCH_RUN_DIR="$RUN" \
    BENCH_THREADS="$GW_THREADS" TOKIO_WORKER_THREADS="$GW_THREADS" \
    bash -c "exec $cmd"
done

# ---------------------------------------------------------------- functional checks
# Same semantics for every policy-enforcing contender (Tyk-like status codes):
#   no key 401 | unknown key 403 | allowed GET 200 "ok" | path outside allowed_urls 403 |
#   method outside allowed_urls 403 | limited key (1 r/s): 1st 200, 2nd immediately 429
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
FUNC_JSON=$RUN/functional.json
echo "{}" > "$FUNC_JSON"
check() { # contender full|plain
  local c=$1 mode=$2 port=${PORT_OF[$1]} L S got exp
  L=$(cat "$RUN/limited.key"); S=$(cat "$RUN/std.key")
  local body; body=$(curl -s --max-time 5 -H "Authorization: $BENCH_KEY" "http://127.0.0.1:$port$REQ_PATH")
  got="ok_body=$( [[ "$body" == ok ]] && echo 1 || echo 0 ) allowed=$(code -H "Authorization: $BENCH_KEY" "http://127.0.0.1:$port$REQ_PATH")"
  exp="ok_body=1 allowed=200"
  if [[ $mode == full ]]; then
    got+=" nokey=$(code "http://127.0.0.1:$port$REQ_PATH")"
    got+=" badkey=$(code -H 'Authorization: not-a-key' "http://127.0.0.1:$port$REQ_PATH")"
    got+=" acl_path=$(code -H "Authorization: $BENCH_KEY" "http://127.0.0.1:$port/admin/users")"
    got+=" acl_method=$(code -X POST -H "Authorization: $L" "http://127.0.0.1:$port/api/users/1")"
    got+=" std=$(code -H "Authorization: $S" "http://127.0.0.1:$port/api/orders/7")"
    got+=" limited1=$(code -H "Authorization: $L" "http://127.0.0.1:$port/api/users/2")"
    got+=" limited2=$(code -H "Authorization: $L" "http://127.0.0.1:$port/api/users/2")"
    exp+=" nokey=401 badkey=403 acl_path=403 acl_method=403 std=200 limited1=200 limited2=429"
  fi
  python3 - "$FUNC_JSON" "$c" "$got" "$exp" <<'PY'
import json, sys
path, c, got, exp = sys.argv[1:5]
g = dict(kv.split("=") for kv in got.split())
e = dict(kv.split("=") for kv in exp.split())
d = json.load(open(path))
d[c] = {"ok": g == e, "got": g, "expected": e}
json.dump(d, open(path, "w"), indent=1)
print(f"bench: check {c}: {'OK' if g == e else 'MISMATCH'} {got}" + ("" if g == e else f"  (expected {exp})"))
PY
}
if [[ $CHECK == 1 ]]; then
  for c in "${CONTENDERS[@]}"; do
    case "$c" in
      direct|*-plain) check "$c" plain ;;
      *) check "$c" full ;;
    esac
  done
fi

# ---------------------------------------------------------------- meta
IFS=, read -r -a PROBE_LIST <<< "$PROBES"
{
  printf 'date_utc=%s\n' "$(date -u +%FT%TZ)"
  printf 'cpu_model=%s\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  printf 'host_cpus=%s\n' "$(nproc)"
  printf 'kernel=%s\n' "$(uname -r)"
  printf 'layout=%s\n' "$LAYOUT"
  printf 'load_probe=%s\n' "wrk -t$THREADS -c$CONNS -d${DURATION}s"
  printf 'lat_probe=%s\n' "wrk -t1 -c$LAT_CONNS -d${DURATION}s"
  printf 'warmup_s=%s\nreps=%s\nkeys=%s\nrotate_keys=%s\nsut_threads=1\ngw_threads=%s\npath=%s\n' \
    "$WARMUP" "$REPS" "$KEYS" "$ROTATE" "$GW_THREADS" "$REQ_PATH"
  printf 'nginx=%s\n' "$(nginx -v 2>&1)"
  printf 'haproxy=%s\n' "$(haproxy -v | head -1)"
  printf 'wrk=%s\n' "$(wrk -v 2>&1 | head -1)"
  printf 'load_at_start=%s\n' "$(cat /proc/loadavg)"
} > "$RUN/meta.env"
python3 - "$RUN/meta.env" "$RUN/meta.json" "${#GW_NAMES[@]}" "${GW_NAMES[@]}" "${GW_PORTS[@]}" "${GW_CMDS[@]}" \
  -- "${CONTENDERS[@]}" -- "${PROBE_LIST[@]}" <<'PY'
import json, sys
env, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rest = sys.argv[4:]
names, ports, cmds = rest[:n], rest[n:2 * n], rest[2 * n:3 * n]
rest = rest[3 * n:]
i = rest.index("--", 1)
contenders, probes = rest[1:i], rest[i + 1:]
meta = {}
for line in open(env):
    k, _, v = line.rstrip("\n").partition("=")
    meta[k] = v
meta["contenders"] = contenders
meta["probes"] = probes
meta["gateways"] = [{"name": a, "port": b, "cmd": c} for a, b, c in zip(names, ports, cmds)]
json.dump(meta, open(out, "w"), indent=1)
PY

# ---------------------------------------------------------------- measurement
wrk_args() { # probe
  local t c
  if [[ $1 == load ]]; then t=$THREADS; c=$CONNS; else t=1; c=$LAT_CONNS; fi
  echo "-t$t -c$c --timeout 5s"
}
place_upstream() { # contender
  [[ "$LAYOUT" == split ]] || return 0
  if [[ $1 == direct ]]; then pin_tree "$CPU_SUT" "${PID_OF[upstream]}"; else pin_tree "$CPU_UP" "${PID_OF[upstream]}"; fi
}
run_one() { # rep contender probe
  local rep=$1 c=$2 probe=$3 port=${PORT_OF[$2]} url hdr=() envs=()
  url="http://127.0.0.1:$port$REQ_PATH"
  if [[ $ROTATE -gt 1 ]]; then
    envs=(BENCH_ROTATE_KEYS="$RUN/bench_keys.txt" BENCH_ROTATE_N="$ROTATE")
  else
    hdr=(-H "Authorization: $BENCH_KEY")
  fi
  place_upstream "$c"
  # warm-up (unrecorded), same shape as the measured run
  env "${envs[@]}" taskset -c "$CPU_CLIENT" wrk $(wrk_args "$probe") -d"${WARMUP}s" "${hdr[@]}" -s "$HERE/lib/report.lua" "$url" >/dev/null 2>&1 || true
  local sut_pid=${PID_OF[$c]} up_pid=""
  [[ $c != direct ]] && up_pid=${PID_OF[upstream]}
  env "${envs[@]}" python3 "$HERE/lib/measure.py" --label "$c/$probe" --contender "$c" --probe "$probe" --rep "$rep" \
    --sut-pids "$sut_pid" --up-pids "$up_pid" --out "$RESULTS" --raw "$RUN/wrk_raw.txt" -- \
    taskset -c "$CPU_CLIENT" wrk $(wrk_args "$probe") -d"${DURATION}s" "${hdr[@]}" -s "$HERE/lib/report.lua" "$url" || true
}

n=${#CONTENDERS[@]}
total=$(( REPS * n * ${#PROBE_LIST[@]} ))
echo "bench: $total measured runs of ${DURATION}s (+${WARMUP}s warm-up) ≈ $(( total * (DURATION + WARMUP + 1) / 60 + 1 )) min"
for rep in $(seq 1 "$REPS"); do
  # rotate the order every repetition (direct keeps its slot in the rotation too)
  for k in $(seq 0 $(( n - 1 ))); do
    c=${CONTENDERS[$(( (k + rep - 1) % n ))]}
    for probe in "${PROBE_LIST[@]}"; do run_one "$rep" "$c" "$probe"; done
  done
done

echo "bench: load at end: $(cat /proc/loadavg)"
stop_all
trap - EXIT
python3 "$HERE/lib/summarize.py" "$RUN"
echo "bench: results in $RUN (summary.md, summary.csv, results.jsonl, wrk_raw.txt)"
