#!/usr/bin/env bash
# redis-benchmark against three servers, interleaved, and one table of requests per second:
#
#   kv_server     handloop's example (crates/handloop/examples/kv_server), one loop, one thread
#   redis-server  Redis itself (C, one thread for commands), persistence off
#   mini-redis    tokio's tutorial server (tokio's multi-thread runtime)
#
# SET and GET, 50 clients, plain and with -P 16 (16 pipelined commands per round trip).
# Not run by CI. Needs, installed by hand:
#   apt-get install redis-tools redis-server     # redis-benchmark, redis-cli, redis-server
#   cargo install mini-redis                     # mini-redis-server (or set MINI_REDIS=path)
#
# Settings (environment): REQUESTS (default 200000 per test), CLIENTS (50), ROUNDS (3;
# each cell is the median of the rounds), PORT (first of three ports, default 16390).
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-200000}
CLIENTS=${CLIENTS:-50}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-16390}

need() { command -v "$1" >/dev/null || { echo "redis.sh: no $1 ($2)" >&2; exit 1; }; }
need redis-benchmark "apt-get install redis-tools"
need redis-cli "apt-get install redis-tools"
need redis-server "apt-get install redis-server"
MINI=${MINI_REDIS:-$(command -v mini-redis-server || true)}
[ -n "$MINI" ] || { echo "redis.sh: no mini-redis-server (cargo install mini-redis, or MINI_REDIS=path)" >&2; exit 1; }

cargo build --release -q -p handloop --example kv_server
KV=target/release/examples/kv_server

names=(kv_server redis-server mini-redis)
ports=($PORT $((PORT + 1)) $((PORT + 2)))
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"$KV" "127.0.0.1:${ports[0]}" >/dev/null & pids+=($!)
redis-server --port "${ports[1]}" --bind 127.0.0.1 --save '' --appendonly no >/dev/null & pids+=($!)
"$MINI" --port "${ports[2]}" >/dev/null 2>&1 & pids+=($!)
for port in "${ports[@]}"; do
    for _ in $(seq 100); do
        redis-cli -p "$port" PING >/dev/null 2>&1 && break
        sleep 0.1
    done
    redis-cli -p "$port" PING >/dev/null || { echo "redis.sh: nothing answers on port $port" >&2; exit 1; }
done

# One redis-benchmark run: prints "SET <rps>" and "GET <rps>".
bench() { # port, extra arguments...
    local port=$1; shift
    redis-benchmark -p "$port" -t set,get -n "$REQUESTS" -c "$CLIENTS" -q --csv "$@" 2>/dev/null |
        awk -F'"' '$2 == "SET" || $2 == "GET" { print $2, $4 }'
}

declare -A samples # "server mode test" -> space-separated rps
for round in $(seq "$ROUNDS"); do
    for mode in plain P16; do
        extra=(); [ "$mode" = P16 ] && extra=(-P 16)
        for i in 0 1 2; do
            while read -r test rps; do
                samples["${names[$i]} $mode $test"]+="$rps "
            done < <(bench "${ports[$i]}" "${extra[@]}")
        done
    done
    echo "round $round of $ROUNDS done" >&2
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A cell
for key in "${!samples[@]}"; do cell[$key]=$(echo "${samples[$key]}" | median); done

echo "redis.sh: $(date -u '+%Y-%m-%d %H:%M') UTC; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "redis-benchmark -t set,get -n $REQUESTS -c $CLIENTS; median of $ROUNDS interleaved rounds; requests/s"
echo
echo "| server | SET | GET | SET -P 16 | GET -P 16 |"
echo "|---|--:|--:|--:|--:|"
for name in "${names[@]}"; do
    printf '| %s | %.0f | %.0f | %.0f | %.0f |\n' "$name" \
        "${cell[$name plain SET]}" "${cell[$name plain GET]}" "${cell[$name P16 SET]}" "${cell[$name P16 GET]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
for other in redis-server mini-redis; do
    printf '| kv_server / %s | %s | %s | %s | %s |\n' "$other" \
        "$(ratio "${cell[kv_server plain SET]}" "${cell[$other plain SET]}")" \
        "$(ratio "${cell[kv_server plain GET]}" "${cell[$other plain GET]}")" \
        "$(ratio "${cell[kv_server P16 SET]}" "${cell[$other P16 SET]}")" \
        "$(ratio "${cell[kv_server P16 GET]}" "${cell[$other P16 GET]}")"
done
echo
echo "Goals: kv_server >= 1.00 x redis-server and mini-redis plain, >= 0.80 x redis-server with -P 16."
