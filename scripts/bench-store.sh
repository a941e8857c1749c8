#!/usr/bin/env bash
# bench-store.sh: the Notary API of trustdeck on SQLite, of trustdeck on
# PostgreSQL (--database) and of Debian's notary-server on PostgreSQL, side by
# side in one run, on one throwaway PostgreSQL cluster (scripts/withpg, as
# root: Debian's postgresql).
#
#   scripts/bench-store.sh          (or: make bench-store)
#
# It starts the three servers with one test CA (trustdeck with
# --allow-anonymous-pull, so that the GETs are compared without auth, as
# notary-server serves them), publishes one repository to each with the notary
# CLI, then, in alternating rounds: wrk on GET timestamp.json and
# targets.json, and `notary add` + `notary publish` of one target (wall time);
# and prints a table of medians.
#
# Environment (all optional):
#   BENCH_DURATION    wrk duration per endpoint and round   (default 5s)
#   BENCH_ROUNDS      rounds                                (default 3)
#   BENCH_THREADS     wrk threads                           (default 2)
#   BENCH_CONNECTIONS wrk connections                       (default 16)
#   BENCH_PUBLISHES   add+publish pairs per server and round (default 3)
#   NOTARY_SERVER     notary-server binary                  (default /usr/bin/notary-server)
#   GO                go command                            (default go)
set -euo pipefail

DURATION=${BENCH_DURATION:-5s}
ROUNDS=${BENCH_ROUNDS:-3}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
PUBLISHES=${BENCH_PUBLISHES:-3}
NOTARY_SERVER=${NOTARY_SERVER:-/usr/bin/notary-server}
GO=${GO:-go}
PASS=bench-admin-password-1
PHRASE=bench-passphrase

cd "$(dirname "$0")/.."
say() { printf '%s\n' "bench-store: $*" >&2; }
die() { say "$*"; exit 1; }

# ---- under withpg: TRUSTDECK_DATABASE and NOTARY_SERVER_DB_URL name databases of one cluster
if [ -z "${NOTARY_SERVER_DB_URL:-}" ]; then
	mkdir -p bin
	$GO build -o bin/withpg ./scripts/withpg
	exec bin/withpg -notary-server "$0" "$@"
fi

command -v wrk >/dev/null || die "wrk is not installed: apt-get install wrk"
[ -x "$NOTARY_SERVER" ] || die "$NOTARY_SERVER is missing: apt-get install notary (make deps-notary)"
for t in openssl curl python3; do command -v $t >/dev/null || die "$t is missing"; done

W=$(mktemp -d /tmp/bench-store.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$W"
}
trap cleanup EXIT

say "building trustdeck and the notary CLI"
$GO build -o "$W/bin/trustdeck" ./cmd/web
$GO build -o "$W/bin/notary" github.com/theupdateframework/notary/cmd/notary

. scripts/bench-common.sh
SQ=127.0.0.1:$(free_port); PG=127.0.0.1:$(free_port); NS=127.0.0.1:$(free_port)

make_tls bench-store

# ---- servers: trustdeck on SQLite, trustdeck on PostgreSQL, notary-server on PostgreSQL
start_notary_server "$NS" error '{"backend": "postgres", "db_url": "'"$NOTARY_SERVER_DB_URL"'"}'
td_start() { # addr data [--database url]
	local addr=$1 data=$2; shift 2
	env -u TRUSTDECK_DATABASE TRUSTDECK_ADMIN_PASSWORD=$PASS "$W/bin/trustdeck" serve --addr "$addr" --data "$data" "$@" \
		--public-host "$addr" --tls-cert "$W/tls/server.crt" --tls-key "$W/tls/server.key" \
		--allow-anonymous-pull --log-level warn > "$data.log" 2>&1 &
	PIDS+=("$!")
	echo "$!"
}
SQ_PID=$(td_start "$SQ" "$W/td-sqlite")
PG_PID=$(td_start "$PG" "$W/td-postgres" --database "$TRUSTDECK_DATABASE")
PIDS+=("$SQ_PID" "$PG_PID")

wait_up "https://$NS/_notary_server/health" "$NS_PID" "$W/notary-server.log"
wait_up "https://$SQ/healthz" "$SQ_PID" "$W/td-sqlite.log"
wait_up "https://$PG/healthz" "$PG_PID" "$W/td-postgres.log"

# ---- one repository on each: bench/app (the GUN names trustdeck's host; notary-server takes any)
export NOTARY_ROOT_PASSPHRASE=$PHRASE NOTARY_TARGETS_PASSPHRASE=$PHRASE NOTARY_SNAPSHOT_PASSPHRASE=$PHRASE
AUTH=$(printf 'admin:%s' "$PASS" | base64 -w0)
addr_of() { case $1 in sqlite) echo "$SQ";; postgres) echo "$PG";; ns) echo "$NS";; esac; }
gun_of() { case $1 in sqlite) echo "$SQ/bench/app";; *) echo "$PG/bench/app";; esac; }
notary_on() { # who args...
	local who=$1; shift
	NOTARY_AUTH=$AUTH "$W/bin/notary" -s "https://$(addr_of "$who")" -d "$W/trust-$who" --tlscacert "$CA" "$@"
}
echo "bench target" > "$W/target.txt"
for who in sqlite postgres; do
	curl -fsS --cacert "$CA" -u "admin:$PASS" -H 'Content-Type: application/json' \
		-d '{"namespace":"bench","name":"app"}' "https://$(addr_of $who)/api/v1/repositories" -o /dev/null
done
for who in sqlite postgres ns; do
	notary_on $who init "$(gun_of $who)" >/dev/null
	notary_on $who add "$(gun_of $who)" v1 "$W/target.txt" >/dev/null
	notary_on $who publish "$(gun_of $who)" >/dev/null
done

RESULTS=$W/results.tsv; : > "$RESULTS"
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$RESULTS"; }
name_of() { case $1 in sqlite) echo "trustdeck SQLite";; postgres) echo "trustdeck PostgreSQL";; ns) echo "notary-server PostgreSQL";; esac; }
wrk_run() { # metric who url
	local out
	out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Accept-Encoding: gzip" "$3")
	grep -q 'Non-2xx' <<<"$out" && { printf '%s\n' "$out" >&2; die "$1 on $2: error responses"; }
	record "$1 req/s" "$(name_of "$2")" "$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
	record "$1 p99 ms" "$(name_of "$2")" "$(awk '$1 == "99%" {v=$2; u=v; sub(/[a-z]+$/, "", v); sub(/^[0-9.]+/, "", u);
		if (u == "us") v /= 1000; else if (u == "s") v *= 1000; print v}' <<<"$out")"
}
ms_now() { date +%s%N; }
for round in $(seq 1 "$ROUNDS"); do
	say "round $round of $ROUNDS"
	case $((round % 3)) in 1) order=(sqlite postgres ns);; 2) order=(postgres ns sqlite);; 0) order=(ns sqlite postgres);; esac
	for role in timestamp targets; do
		for who in "${order[@]}"; do
			wrk_run "GET $role.json" "$who" "https://$(addr_of "$who")/v2/$(gun_of "$who")/_trust/tuf/$role.json"
		done
	done
	for i in $(seq 1 "$PUBLISHES"); do
		for who in "${order[@]}"; do
			t0=$(ms_now)
			notary_on "$who" add "$(gun_of "$who")" "r$round-$i" "$W/target.txt" >/dev/null
			notary_on "$who" publish "$(gun_of "$who")" >/dev/null
			t1=$(ms_now)
			record "notary add+publish ms" "$(name_of "$who")" "$(( (t1 - t0) / 1000000 ))"
		done
	done
done

echo
echo "bench-store: $ROUNDS rounds, wrk -t$THREADS -c$CONNECTIONS -d$DURATION (Accept-Encoding: gzip), $PUBLISHES publishes each per round, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$RESULTS" <<'EOF'
import sys, statistics, collections
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    metric, server, value = line.rstrip("\n").split("\t")
    rows.setdefault(metric, collections.OrderedDict()).setdefault(server, []).append(float(value))
servers = ["trustdeck SQLite", "trustdeck PostgreSQL", "notary-server PostgreSQL"]
fmt = lambda v: "—" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.2f}")
W = max(len(m) for m in rows)
print(f"| {'measurement (median)':<{W}} | " + " | ".join(f"{s:>24}" for s in servers) + " |")
print(f"|{'-'*(W+2)}|" + "|".join("-" * 26 for _ in servers) + "|")
for metric, by in rows.items():
    med = {s: statistics.median(v) for s, v in by.items()}
    print(f"| {metric:<{W}} | " + " | ".join(f"{fmt(med.get(s)):>24}" for s in servers) + " |")
print("\nreq/s: higher is better; ms: lower is better. The GETs are anonymous on all three.")
EOF
