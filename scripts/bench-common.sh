# bench-common.sh: what the side-by-side benchmark scripts (bench-peer.sh,
# bench-store.sh) share. Sourced, not run: it expects W (work directory),
# PIDS (an array) and die() to be defined by the script.

# free_port prints a loopback TCP port nobody listens on right now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# make_tls NAME: a throwaway CA and a server certificate for 127.0.0.1 and
# localhost in $W/tls (ca.crt, server.crt, server.key); sets CA.
make_tls() {
	mkdir -p "$W/tls"
	(
		cd "$W/tls"
		openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
		openssl req -x509 -new -key ca.key -sha256 -days 2 -subj "/CN=$1 CA" -out ca.crt 2>/dev/null
		openssl ecparam -name prime256v1 -genkey -noout -out server.key 2>/dev/null
		openssl req -new -key server.key -subj "/CN=127.0.0.1" -out server.csr 2>/dev/null
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > ext.cnf
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -sha256 \
			-extfile ext.cnf -out server.crt 2>/dev/null
	)
	CA=$W/tls/ca.crt
}

# start_notary_server ADDR LOG_LEVEL STORAGE_JSON: Debian's notary-server
# ($NOTARY_SERVER) on ADDR with $W/tls's certificate and a local signer; sets
# NS_PID.
start_notary_server() {
	cat > "$W/notary-server.json" <<JSON
{
  "server": {"http_addr": "$1", "tls_cert_file": "$W/tls/server.crt", "tls_key_file": "$W/tls/server.key"},
  "trust_service": {"type": "local", "hostname": "", "port": "", "key_algorithm": "ecdsa"},
  "logging": {"level": "$2"},
  "storage": $3
}
JSON
	"$NOTARY_SERVER" -config "$W/notary-server.json" > "$W/notary-server.log" 2>&1 &
	NS_PID=$!; PIDS+=("$NS_PID")
}

# wait_up URL PID LOG: waits (20 s at most) until URL answers over $CA,
# failing with the server's log when it exits or does not answer.
wait_up() {
	for _ in $(seq 1 200); do
		curl -fsS --cacert "$CA" -o /dev/null "$1" 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || { cat "$3" >&2; die "server exited"; }
		sleep 0.1
	done
	cat "$3" >&2; die "$1 did not answer"
}
