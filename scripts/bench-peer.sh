#!/usr/bin/env bash
# bench-peer.sh: trustdeck's embedded Notary server and Debian's notary-server
# (memory backend) side by side on loopback, measured the same way.
#
#   scripts/bench-peer.sh            (or: make bench-peer)
#
# It builds trustdeck and the notary CLI (the go.mod tool, built once so that
# timings hold no `go` start-up), starts both servers with one test CA,
# publishes the same repositories to both with the notary CLI (the 5,000-target
# delegation with scripts/benchpeer: the CLI stages one target per run), then,
# in alternating rounds:
#   - wrk on GET timestamp.json, snapshot.json, targets.json and the
#     delegation's targets/releases.json: notary-server (no auth), trustdeck
#     anonymous (--allow-anonymous-pull) and trustdeck with a bearer token;
#     and the ceiling: a bare Go HTTPS server (scripts/benchpeer -serve)
#     answering the very bytes trustdeck answered, with no routing, auth or
#     logging; on a machine where wrk shares the cores with the server, no Go
#     server can pass it;
#   - `notary add` + `notary publish` of one target, wall time, on each;
#   - the server CPU time per GET (from /proc: other load on the machine does
#     not count), which is the steadiest figure on a busy machine;
#   - inspection of the 5,000-tag repository: `docker trust inspect` against
#     notary-server (warm TUF cache) and trustdeck's GET /api/v1/trust/inspect
#     with basic credentials and with a session (total time as curl sees it,
#     accepting gzip as browsers and Go clients do, and the server's own
#     duration from its request log);
# and prints a table of medians and ratios (trustdeck / notary-server), and the
# idle and final RSS of both servers.
#
# Environment (all optional):
#   BENCH_DURATION    wrk duration per endpoint and round        (default 10s)
#   BENCH_ROUNDS      rounds of the whole measurement            (default 5)
#   BENCH_THREADS     wrk threads                                (default 2)
#   BENCH_CONNECTIONS wrk connections                            (default 16)
#   BENCH_PUBLISHES   add+publish pairs per server and round     (default 3)
#   BENCH_INSPECTS    inspections per client and round           (default 3)
#   BENCH_TARGETS     targets in the big delegation              (default 5000)
#   BENCH_ACCEPT_ENCODING  what wrk sends as Accept-Encoding to both servers (default gzip, as Go's
#                     HTTP client and so docker and notary send it; empty: none)
#   BENCH_DIR         work directory, kept afterwards            (default: a temporary one, removed)
#   BENCH_PPROF_ADDR  trustdeck's --pprof-addr, to profile it while the script runs (default off)
#   NOTARY_SERVER     notary-server binary                       (default /usr/bin/notary-server)
#   DOCKER            docker CLI; inspections against it are skipped without it (default /usr/local/bin/docker)
#   GO                go command                                 (default go)
set -euo pipefail

DURATION=${BENCH_DURATION:-10s}
ROUNDS=${BENCH_ROUNDS:-5}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
PUBLISHES=${BENCH_PUBLISHES:-3}
INSPECTS=${BENCH_INSPECTS:-3}
TARGETS=${BENCH_TARGETS:-5000}
ACCEPT_ENCODING=${BENCH_ACCEPT_ENCODING-gzip}
NOTARY_SERVER=${NOTARY_SERVER:-/usr/bin/notary-server}
DOCKER=${DOCKER:-/usr/local/bin/docker}
GO=${GO:-go}
PASS=bench-admin-password-1
PHRASE=bench-passphrase

cd "$(dirname "$0")/.."
say() { printf '%s\n' "bench-peer: $*" >&2; }
die() { say "$*"; exit 1; }

# ---- tools
if ! command -v wrk >/dev/null; then
	if [ "$(id -u)" = 0 ]; then
		say "installing wrk (apt-get)"
		DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk >&2
	else
		die "wrk is not installed and we are not root: sudo apt-get install wrk"
	fi
fi
[ -x "$NOTARY_SERVER" ] || die "$NOTARY_SERVER is missing: apt-get install notary (make deps-notary)"
for t in openssl curl python3; do command -v $t >/dev/null || die "$t is missing"; done
HAVE_DOCKER=1
[ -x "$DOCKER" ] || { HAVE_DOCKER=0; say "no docker CLI at $DOCKER: docker trust inspect is not timed"; }

if [ -n "${BENCH_DIR:-}" ]; then
	W=$BENCH_DIR; mkdir -p "$W"
else
	W=$(mktemp -d /tmp/bench-peer.XXXXXX)
fi
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -n "${BENCH_DIR:-}" ] || rm -rf "$W"
}
trap cleanup EXIT

say "work directory $W"
say "building trustdeck, the notary CLI and the seeder"
$GO build -o "$W/bin/trustdeck" ./cmd/web
$GO build -o "$W/bin/notary" github.com/theupdateframework/notary/cmd/notary
$GO build -o "$W/bin/benchpeer" ./scripts/benchpeer

. scripts/bench-common.sh
TD_PORT=$(free_port); NS_PORT=$(free_port)
TD=127.0.0.1:$TD_PORT; NS=127.0.0.1:$NS_PORT

# ---- one CA and one certificate (127.0.0.1) for both servers
make_tls bench-peer

# ---- servers
start_notary_server "$NS" info '{"backend": "memory"}'

TRUSTDECK_ADMIN_PASSWORD=$PASS "$W/bin/trustdeck" serve --addr "$TD" --data "$W/trustdeck-data" \
	--public-host "$TD" --tls-cert "$W/tls/server.crt" --tls-key "$W/tls/server.key" \
	--allow-anonymous-pull ${BENCH_PPROF_ADDR:+--pprof-addr "$BENCH_PPROF_ADDR"} > "$W/trustdeck.log" 2>&1 &
TD_PID=$!; PIDS+=("$TD_PID")

wait_up "https://$NS/_notary_server/health" "$NS_PID" "$W/notary-server.log"
wait_up "https://$TD/healthz" "$TD_PID" "$W/trustdeck.log"
sleep 2 # let both settle before reading their idle memory
rss() { awk '/^VmRSS:/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
TD_RSS_IDLE=$(rss "$TD_PID"); NS_RSS_IDLE=$(rss "$NS_PID")
say "idle RSS: trustdeck ${TD_RSS_IDLE} MiB, notary-server ${NS_RSS_IDLE} MiB"

# ---- repositories: bench/app (notary CLI) and bench/big (the big delegation)
APP=$TD/bench/app; BIG=$TD/bench/big # the same GUNs on both servers
for r in app big; do
	curl -fsS --cacert "$CA" -u "admin:$PASS" -H 'Content-Type: application/json' \
		-d "{\"namespace\":\"bench\",\"name\":\"$r\"}" "https://$TD/api/v1/repositories" -o /dev/null
done
export NOTARY_ROOT_PASSPHRASE=$PHRASE NOTARY_TARGETS_PASSPHRASE=$PHRASE NOTARY_SNAPSHOT_PASSPHRASE=$PHRASE \
	NOTARY_DELEGATION_PASSPHRASE=$PHRASE
AUTH=$(printf 'admin:%s' "$PASS" | base64 -w0)
notary_on() { # td|ns args...
	local who=$1; shift
	if [ "$who" = td ]; then
		NOTARY_AUTH=$AUTH "$W/bin/notary" -s "https://$TD" -d "$W/trust-td" --tlscacert "$CA" "$@"
	else
		"$W/bin/notary" -s "https://$NS" -d "$W/trust-ns" --tlscacert "$CA" "$@"
	fi
}
echo "bench target" > "$W/target.txt"
for who in ns td; do
	notary_on $who init "$APP" >/dev/null
	notary_on $who add "$APP" v1 "$W/target.txt" >/dev/null
	notary_on $who publish "$APP" >/dev/null
done
token() { # gun [actions]: a token for gun on trustdeck (default: pull)
	curl -fsS --cacert "$CA" -u "admin:$PASS" -G "https://$TD/auth/token" \
		--data-urlencode service=trustdeck --data-urlencode "scope=repository:$1:${2:-pull}" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}
say "seeding $BIG with $TARGETS targets in targets/releases on both servers"
"$W/bin/benchpeer" -server "https://$NS" -ca "$CA" -gun "$BIG" -targets "$TARGETS"
BENCHPEER_TOKEN=$(token "$BIG" pull,push) "$W/bin/benchpeer" -server "https://$TD" -ca "$CA" -gun "$BIG" -targets "$TARGETS"

# ---- the ceiling: the bytes trustdeck answers (as wrk asks for them), served bare
BARE_PORT=$(free_port); BARE=127.0.0.1:$BARE_PORT
bare_files=(); ae=()
[ -z "$ACCEPT_ENCODING" ] || ae=(-H "Accept-Encoding: $ACCEPT_ENCODING")
for e in "timestamp|$APP" "snapshot|$APP" "targets|$APP" "targets/releases|$BIG"; do
	IFS='|' read -r role gun <<<"$e"
	path="/v2/$gun/_trust/tuf/$role.json"
	f="$W/bare-$(tr / - <<<"$role").json"
	curl -fsS --cacert "$CA" "${ae[@]}" -o "$f" "https://$TD$path"
	bare_files+=("$path=$f")
done
"$W/bin/benchpeer" -serve "$BARE" -cert "$W/tls/server.crt" -key "$W/tls/server.key" "${bare_files[@]}" \
	> "$W/bare.log" 2>&1 &
BARE_PID=$!; PIDS+=("$BARE_PID")
for _ in $(seq 1 50); do curl -fsS --cacert "$CA" -o /dev/null "https://$BARE${bare_files[0]%%=*}" 2>/dev/null && break; sleep 0.1; done

# ---- measurements; every sample is a line "metric<TAB>server<TAB>value"
RESULTS=$W/results.tsv; : > "$RESULTS"
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$RESULTS"; }


# cpu_ticks pid: user+system CPU time the process used so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# wrk_run name server pid url [header]: records req/s, p99 (ms) and the
# server's CPU time per request (µs; from /proc, so other load on the machine
# does not count).
wrk_run() {
	local name=$1 server=$2 pid=$3 url=$4 out t0 t1 n
	local args=(-t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency)
	[ -z "$ACCEPT_ENCODING" ] || args+=(-H "Accept-Encoding: $ACCEPT_ENCODING")
	[ -n "${5:-}" ] && args+=(-H "$5")
	t0=$(cpu_ticks "$pid")
	out=$(wrk "${args[@]}" "$url")
	t1=$(cpu_ticks "$pid")
	if grep -q 'Non-2xx' <<<"$out"; then
		printf '%s\n' "$out" >&2; die "$name on $server: error responses"
	fi
	n=$(awk '/requests in/ {print $1}' <<<"$out")
	record "$name req/s" "$server" "$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
	record "$name p99 ms" "$server" "$(awk '$1 == "99%" {v=$2; u=v; sub(/[a-z]+$/, "", v); sub(/^[0-9.]+/, "", u);
		if (u == "us") v /= 1000; else if (u == "s") v *= 1000; print v}' <<<"$out")"
	record "$name server CPU µs/req" "$server" "$(awk -v t=$((t1 - t0)) -v us="$TICK_US" -v n="$n" 'BEGIN {printf "%.1f", t*us/n}')"
}

ms_now() { date +%s%N; }
docker_env=(env DOCKER_CONFIG="$W/docker" SSL_CERT_FILE="$CA" DOCKER_CONTENT_TRUST_SERVER="https://$NS"
	DOCKER_HOST=unix:///nonexistent/bench-peer.sock DOCKER_CLI_HINTS=false)
if [ $HAVE_DOCKER = 1 ]; then
	mkdir -p "$W/docker"
	"${docker_env[@]}" "$DOCKER" trust inspect "$BIG" > "$W/docker-inspect.json" # warm its TUF cache
fi

# Inspections with basic credentials (a password hash each, as every docker
# and notary command's token request) and with a session cookie (the login
# form: its CSRF token, then the post).
INSPECT_AUTH=(basic)
JAR=$W/cookies.txt
# trustdeck's first inspection loads and verifies every role (untimed).
curl -fsS --compressed --cacert "$CA" -u "admin:$PASS" -o /dev/null -G "https://$TD/api/v1/trust/inspect" --data-urlencode "ref=$BIG"
csrf=$(curl -fsS --cacert "$CA" -c "$JAR" -b "$JAR" "https://$TD/login" | sed -n 's/.*name="_csrf" value="\([^"]*\)".*/\1/p' | head -n1)
if [ -n "$csrf" ] && curl -fsS --cacert "$CA" -c "$JAR" -b "$JAR" -o /dev/null --data-urlencode "_csrf=$csrf" \
	--data-urlencode username=admin --data-urlencode "password=$PASS" "https://$TD/login" &&
	curl -fsS --cacert "$CA" -b "$JAR" -o /dev/null "https://$TD/api/v1/repositories"; then
	INSPECT_AUTH=(session basic) # the session first: a password hash leaves garbage to collect
else
	say "could not sign in through the login form: inspections with a session are not timed"
fi

endpoints=("timestamp|$APP|timestamp" "snapshot|$APP|snapshot" "targets|$APP|targets"
	"delegation ($TARGETS targets)|$BIG|targets/releases")
for round in $(seq 1 "$ROUNDS"); do
	say "round $round of $ROUNDS"
	# Alternate who goes first.
	if [ $((round % 2)) = 1 ]; then order=(ns td); else order=(td ns); fi
	for e in "${endpoints[@]}"; do
		IFS='|' read -r name gun role <<<"$e"
		path="/v2/$gun/_trust/tuf/$role.json"
		for who in "${order[@]}"; do
			if [ $who = ns ]; then
				wrk_run "GET $name" notary-server "$NS_PID" "https://$NS$path"
			else
				wrk_run "GET $name" trustdeck "$TD_PID" "https://$TD$path"
				wrk_run "GET $name" "trustdeck+token" "$TD_PID" "https://$TD$path" "Authorization: Bearer $(token "$gun")"
			fi
		done
		wrk_run "GET $name" bare "$BARE_PID" "https://$BARE$path"
	done
	for i in $(seq 1 "$PUBLISHES"); do
		for who in "${order[@]}"; do
			tag=r$round-$i
			t0=$(ms_now)
			notary_on $who add "$APP" "$tag" "$W/target.txt" >/dev/null
			notary_on $who publish "$APP" >/dev/null
			t1=$(ms_now)
			[ $who = ns ] && s=notary-server || s=trustdeck
			record "notary add+publish ms" "$s" "$(( (t1 - t0) / 1000000 ))"
		done
	done
	for i in $(seq 1 "$INSPECTS"); do
		if [ $HAVE_DOCKER = 1 ]; then
			t0=$(ms_now)
			"${docker_env[@]}" "$DOCKER" trust inspect "$BIG" > /dev/null
			t1=$(ms_now)
			for how in "${INSPECT_AUTH[@]}"; do
				record "inspect $TARGETS tags ms ($how)" "notary-server" "$(( (t1 - t0) / 1000000 ))"
			done
		fi
		for how in "${INSPECT_AUTH[@]}"; do
			if [ "$how" = basic ]; then auth=(-u "admin:$PASS"); else auth=(-b "$JAR"); fi
			secs=$(curl -fsS --compressed --cacert "$CA" "${auth[@]}" -H "X-Request-Id: bench-inspect-$how-$round-$i" \
				-o "$W/td-inspect.json" -w '%{time_total}' -G "https://$TD/api/v1/trust/inspect" --data-urlencode "ref=$BIG")
			record "inspect $TARGETS tags ms ($how)" trustdeck "$(awk -v s="$secs" 'BEGIN {printf "%.1f", s*1000}')"
		done
	done
done
# The server's own time for the inspections (its request log; the request
# IDs are the script's).
sleep 0.3 # trustdeck writes its log in batches
for how in "${INSPECT_AUTH[@]}"; do
	grep -E "request_id=bench-inspect-$how-" "$W/trustdeck.log" |
		sed -E 's/.*duration=([0-9.]+)(µs|ms|s).*/\1 \2/' | while read -r v u; do
			case $u in µs) v=$(awk -v v="$v" 'BEGIN {print v/1000}');; s) v=$(awk -v v="$v" 'BEGIN {print v*1000}');; esac
			record "inspect $TARGETS tags, server ms ($how)" trustdeck "$v"
		done
done
# Both inspections list every tag (key IDs differ: each server has its own keys).
files=("$W/td-inspect.json")
[ $HAVE_DOCKER = 0 ] || files+=("$W/docker-inspect.json")
for f in "${files[@]}"; do
	n=$(grep -c '"SignedTag": ' "$f" || true)
	[ "$n" = "$TARGETS" ] || die "$f lists $n signed tags, want $TARGETS"
done
record "RSS MiB (idle, fresh)" trustdeck "$TD_RSS_IDLE"; record "RSS MiB (idle, fresh)" notary-server "$NS_RSS_IDLE"
record "RSS MiB (end)" trustdeck "$(rss "$TD_PID")"; record "RSS MiB (end)" notary-server "$(rss "$NS_PID")"

# ---- table: medians per metric and server; ratio trustdeck / notary-server
echo
echo "bench-peer: $ROUNDS rounds, wrk -t$THREADS -c$CONNECTIONS -d$DURATION${ACCEPT_ENCODING:+ (Accept-Encoding: $ACCEPT_ENCODING)}, $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$RESULTS" <<'EOF'
import sys, statistics, collections
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    metric, server, value = line.rstrip("\n").split("\t")
    rows.setdefault(metric, collections.OrderedDict()).setdefault(server, []).append(float(value))
servers = ["trustdeck", "trustdeck+token", "notary-server", "bare"]
def fmt(v):
    return "—" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.2f}")
W = max(len(m) for m in rows) if rows else 20
print(f"| {'measurement (median)':<{W}} | {'trustdeck':>10} | {'+ token':>10} | {'notary-server':>13} | {'ratio':>6} | {'ratio+tok':>9} | {'bare Go TLS':>11} | {'td/bare':>7} |")
print(f"|{'-'*(W+2)}|{'-'*12}|{'-'*12}|{'-'*15}|{'-'*8}|{'-'*11}|{'-'*13}|{'-'*9}|")
for metric, by in rows.items():
    med = {s: statistics.median(v) for s, v in by.items()}
    ns = med.get("notary-server")
    def ratio(s):
        v = med.get(s)
        return f"{v/ns:.2f}" if v is not None and ns else "—"
    bare, td = med.get("bare"), med.get("trustdeck")
    of_bare = f"{td/bare:.2f}" if bare and td is not None else "—"
    print(f"| {metric:<{W}} | {fmt(td):>10} | {fmt(med.get('trustdeck+token')):>10} | "
          f"{fmt(ns):>13} | {ratio('trustdeck'):>6} | {ratio('trustdeck+token'):>9} | {fmt(bare):>11} | {of_bare:>7} |")
print("\nratio = trustdeck / notary-server (req/s: higher is better; ms, µs and MiB: lower is better).")
print("bare  = a bare Go HTTPS server answering the same bytes (scripts/benchpeer -serve): the ceiling on this machine;")
print("        td/bare = how much of it trustdeck reaches.")
print("inspect: trustdeck's GET /api/v1/trust/inspect with basic credentials or a session, as curl sees it ('server ms':")
print("         its request log), against `docker trust inspect` of the same GUN on notary-server (wall time, warm cache).")
EOF
