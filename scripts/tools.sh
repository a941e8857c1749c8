#!/usr/bin/env bash
# tools.sh: build the signature CLIs the tests verify with, once, into a cache.
#
#   scripts/tools.sh            build every tool that is missing, print their paths
#   scripts/tools.sh cosign     build cosign if missing, print its path
#   scripts/tools.sh notation   build notation if missing, print its path
#   scripts/tools.sh dir        print the cache directory
#
# The tools are the real, unchanged CLIs, built from their Go modules:
#   cosign   github.com/sigstore/cosign/v2/cmd/cosign            v2.6.5
#   notation github.com/notaryproject/notation/cmd/notation      v1.3.2
# cosign takes 5-8 minutes to build on 2 cores from a cold build cache; afterwards
# the binary is reused. notation's module cannot be `go install`ed by version here
# (its version list is not served), so it is built inside a scratch module.
#
# Cache: $TRUSTDECK_TOOLS, else ${XDG_CACHE_HOME:-$HOME/.cache}/trustdeck/tools,
# one directory per tool and version (<dir>/cosign-v2.6.5/cosign), so a version
# change builds anew. Concurrent callers (parallel go test packages) wait on a
# lock instead of building twice. Go tests call this script (internal/resign's
# test helpers) and only print the binary's path on the last line of stdout;
# progress goes to stderr.
set -euo pipefail

COSIGN_VERSION=v2.6.5
NOTATION_VERSION=v1.3.2

dir="${TRUSTDECK_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/trustdeck/tools}"
go_bin="${GO:-go}"

log() { echo "tools.sh: $*" >&2; }

# with_lock NAME CMD...: run CMD holding an exclusive lock for NAME.
with_lock() {
	local name="$1"
	shift
	mkdir -p "$dir"
	exec {fd}>"$dir/.$name.lock"
	flock "$fd"
	"$@"
	local rc=$?
	flock -u "$fd"
	exec {fd}>&-
	return $rc
}

# build NAME VERSION BUILDER: unless <dir>/NAME-VERSION/NAME exists, run
# BUILDER OUT (which writes OUT/NAME) in a temporary directory and move it
# into place, so an interrupted build never leaves a half-written tool.
build() {
	local name="$1" version="$2" builder="$3"
	local out="$dir/$name-$version"
	if [[ -x "$out/$name" ]]; then
		return 0
	fi
	log "building $name $version into $out"
	local tmp="$out.tmp.$$"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	"$builder" "$tmp"
	rm -rf "$out"
	mv "$tmp" "$out"
}

# cosign: 5-8 minutes on 2 cores from a cold build cache.
cosign_builder() {
	GOBIN="$1" GOFLAGS=-buildvcs=false "$go_bin" install \
		"github.com/sigstore/cosign/v2/cmd/cosign@$COSIGN_VERSION" >&2
}

# notation: inside a scratch module (its version list is not served, so
# `go install ...@version` is refused).
notation_builder() {
	(
		mkdir -p "$1/mod"
		cd "$1/mod"
		export GOFLAGS=-buildvcs=false
		"$go_bin" mod init trustdeck.local/notation-build >&2
		"$go_bin" get "github.com/notaryproject/notation/cmd/notation@$NOTATION_VERSION" >&2
		"$go_bin" build -o "$1/notation" github.com/notaryproject/notation/cmd/notation >&2
	)
	rm -rf "$1/mod"
}

build_cosign() { build cosign "$COSIGN_VERSION" cosign_builder; }
build_notation() { build notation "$NOTATION_VERSION" notation_builder; }

case "${1:-all}" in
cosign)
	with_lock cosign build_cosign
	echo "$dir/cosign-$COSIGN_VERSION/cosign"
	;;
notation)
	with_lock notation build_notation
	echo "$dir/notation-$NOTATION_VERSION/notation"
	;;
all)
	with_lock notation build_notation
	with_lock cosign build_cosign
	echo "$dir/cosign-$COSIGN_VERSION/cosign"
	echo "$dir/notation-$NOTATION_VERSION/notation"
	;;
dir)
	echo "$dir"
	;;
*)
	echo "usage: $0 [all|cosign|notation|dir]" >&2
	exit 2
	;;
esac
