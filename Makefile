# trustdeck: build, run and test.
#
# Toolchain expectations (declared here, checked by nobody but the tools themselves):
#   - Go 1.26 (go.mod says `go 1.26.8`), at /usr/local/go or on PATH; gcc for `-race` (cgo).
#   - templ is a Go tool dependency (`tool` block in go.mod): run it as `go tool templ`.
#     Generated *_templ.go files are committed; `make generate` refreshes them and
#     `make test` fails when they are stale.
#   - Node.js >= 20 and npm, for the browser tests (node's built-in test runner + playwright-core).
#   - Debian's chromium at /usr/bin/chromium (package `chromium`). Never let playwright download
#     a browser: `make deps` installs Debian's package when run as root.
#   - Debian's notary (notary-server) and postgresql packages, for the external Notary server
#     tests (run as root: the PostgreSQL cluster runs as the postgres user); `make deps` installs them.
#   - Debian's docker-registry package (binary docker-registry), the registry of the registry tests
#     (internal/testregistry); `make deps` installs it. Images are pushed by go-containerregistry's
#     crane, a Go tool dependency like the notary CLI: `go tool crane`.
#
# Targets:
#   make build     go build -o bin/trustdeck ./cmd/web
#   make run       build, then ./bin/trustdeck serve (data in ./data, HTTPS on :4443)
#   make generate  go tool templ generate
#   make test      deps + checks + go tests (race) + browser tests, each on SQLite and again on
#                  PostgreSQL (trustdeck's store; Debian's postgresql, as root); what .ci/run runs
#   make bench     benchmarks only
#   make fuzz      every Go fuzz target, one after another, FUZZTIME each (default 10m;
#                  e.g. `make fuzz FUZZTIME=30s`), FUZZ_PARALLEL workers (default 1)
#   make bench-peer  trustdeck and Debian's notary-server side by side (wrk, notary CLI, docker trust
#                  inspect): a table of medians and ratios; BENCH_* variables in the script set durations
#   make bench-store  the Notary API of trustdeck on SQLite, trustdeck on PostgreSQL and notary-server on
#                  PostgreSQL side by side (GETs with wrk, notary add+publish): a table of medians
#   make clean     remove build output and test artifacts

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO          ?= go
NODE        ?= node
NPM         ?= npm
CHROMIUM    ?= /usr/bin/chromium
BIN         := bin/trustdeck
GO_TEST_TIMEOUT ?= 30m
# Extra flags for `node --test` (spec reporter: one line per test, readable in CI logs).
NODE_TEST_FLAGS ?= --test-reporter=spec

# Directories that never hold the project's own Go sources.
FIND_GO := find . \( -path ./node_modules -o -path ./.git -o -path ./bin -o -path ./data \
	-o -path ./e2e \) -prune -o -name '*.go' -print

.PHONY: all build run generate test deps deps-toolchain deps-chromium deps-notary deps-postgres deps-registry deps-node check fmt-check vet \
	templ-check go-test go-test-postgres e2e e2e-postgres bench bench-peer bench-store fuzz clean

all: build

build:
	@mkdir -p bin
	$(GO) build -o $(BIN) ./cmd/web

run: build
	./$(BIN) serve

generate:
	$(GO) tool templ generate

# ---------------------------------------------------------------------------------------------
# make test: everything, on a fresh Debian machine as root.

test: deps check go-test go-test-postgres e2e e2e-postgres
	@echo "make test: all checks and tests passed"

deps: deps-toolchain deps-chromium deps-notary deps-postgres deps-registry deps-node

# What Debian can give of the toolchain beyond Go: gcc (cgo, for -race) and Node.js with npm (browser
# tests). Installed with apt-get when missing and root; a Node.js older than 20 is reported (Debian 12's
# is 18: take nodejs.org's binaries there).
deps-toolchain:
	@missing=""; \
	command -v gcc >/dev/null || missing="$$missing gcc"; \
	command -v $(NODE) >/dev/null || missing="$$missing nodejs"; \
	command -v $(NPM) >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ]; then \
		echo "deps: installing$$missing (apt-get)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	elif [ -n "$$missing" ]; then \
		echo "## deps: missing$$missing and we are not root: sudo apt-get install$$missing" >&2; \
	fi; \
	if command -v $(NODE) >/dev/null; then \
		major=$$($(NODE) -p 'process.versions.node.split(".")[0]'); \
		if [ "$$major" -lt 20 ]; then \
			echo "## deps: Node.js $$($(NODE) --version) is older than 20, which the browser tests need" >&2; \
		fi; \
	fi

deps-chromium:
	@if [ -x "$(CHROMIUM)" ]; then \
		echo "deps: chromium present: $$($(CHROMIUM) --version 2>/dev/null || echo '?')"; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "deps: installing Debian's chromium (apt-get)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && apt-get install -y -q --no-install-recommends chromium; \
		$(CHROMIUM) --version; \
	else \
		echo "################################################################################" >&2; \
		echo "## deps: $(CHROMIUM) is NOT installed and we are not root." >&2; \
		echo "## Install it with:  sudo apt-get install --no-install-recommends chromium" >&2; \
		echo "## The browser tests will be SKIPPED until then." >&2; \
		echo "################################################################################" >&2; \
	fi

# Debian's notary package: its notary-server (which carries the Go >= 1.17 delegation fix) is the
# external Notary server of internal/interop/external_test.go.
NOTARY_SERVER ?= /usr/bin/notary-server
deps-notary:
	@if [ -x "$(NOTARY_SERVER)" ]; then \
		echo "deps: notary-server present: $(NOTARY_SERVER)"; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "deps: installing Debian's notary (apt-get)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && apt-get install -y -q --no-install-recommends notary; \
	else \
		echo "################################################################################" >&2; \
		echo "## deps: $(NOTARY_SERVER) is NOT installed and we are not root." >&2; \
		echo "## Install it with:  sudo apt-get install --no-install-recommends notary" >&2; \
		echo "## The external Notary server tests will be SKIPPED until then." >&2; \
		echo "################################################################################" >&2; \
	fi

# Debian's postgresql package: internal/interop/external_test.go runs notary-server a second time
# on PostgreSQL, in a throwaway cluster it starts as the postgres OS user (the tests run as root).
POSTGRES_INITDB_GLOB ?= /usr/lib/postgresql/*/bin/initdb
deps-postgres:
	@if ls $(POSTGRES_INITDB_GLOB) >/dev/null 2>&1; then \
		echo "deps: postgresql present: $$(ls $(POSTGRES_INITDB_GLOB) | tail -n1)"; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "deps: installing Debian's postgresql (apt-get)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && apt-get install -y -q --no-install-recommends postgresql; \
	else \
		echo "################################################################################" >&2; \
		echo "## deps: PostgreSQL ($(POSTGRES_INITDB_GLOB)) is NOT installed and we are not root." >&2; \
		echo "## Install it with:  sudo apt-get install --no-install-recommends postgresql" >&2; \
		echo "## The external Notary server test on PostgreSQL will be SKIPPED until then." >&2; \
		echo "################################################################################" >&2; \
	fi

# Debian's docker-registry package (distribution 2.8): the real registry internal/testregistry runs
# with TLS, token auth whose realm is trustdeck, and notifications pointed at trustdeck. The package
# enables a systemd service; the tests never use it (each runs its own on a free port).
DOCKER_REGISTRY ?= /usr/bin/docker-registry
deps-registry:
	@if [ -x "$(DOCKER_REGISTRY)" ]; then \
		echo "deps: docker-registry present: $(DOCKER_REGISTRY)"; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "deps: installing Debian's docker-registry (apt-get)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && apt-get install -y -q --no-install-recommends docker-registry; \
	else \
		echo "################################################################################" >&2; \
		echo "## deps: $(DOCKER_REGISTRY) is NOT installed and we are not root." >&2; \
		echo "## Install it with:  sudo apt-get install --no-install-recommends docker-registry" >&2; \
		echo "## The registry tests will be SKIPPED until then (and FAIL with TRUSTDECK_E2E_STRICT=1)." >&2; \
		echo "################################################################################" >&2; \
	fi

deps-node:
	@if [ -d node_modules/playwright-core ]; then \
		echo "deps: node_modules/playwright-core present"; \
	elif [ -f package-lock.json ]; then \
		echo "deps: npm ci"; $(NPM) ci --no-audit --no-fund; \
	else \
		echo "deps: no package-lock.json, npm install"; $(NPM) install --no-audit --no-fund; \
	fi

check: fmt-check vet templ-check

fmt-check:
	@out="$$($(FIND_GO) | xargs -r gofmt -l)"; \
	if [ -n "$$out" ]; then \
		echo "gofmt: these files need formatting (run gofmt -w):" >&2; echo "$$out" >&2; exit 1; \
	fi; echo "gofmt: ok"

vet:
	$(GO) vet ./...

# Regenerate templ output and fail if that changed anything: committed *_templ.go must be fresh.
# Two views of "changed": the content of every *_templ.go (works without git), and
# `git status --porcelain` (also catches generated files that are not committed yet).
templ-check:
	@hash_templ() { { $(FIND_GO) | grep '_templ\.go$$' || true; } | LC_ALL=C sort | xargs -r sha256sum; }; \
	in_git=0; git rev-parse --is-inside-work-tree >/dev/null 2>&1 && in_git=1; \
	[ $$in_git = 1 ] || echo "templ-check: not a git checkout; comparing file contents only"; \
	before_hash="$$(hash_templ)"; \
	before_git="$$( [ $$in_git = 1 ] && git status --porcelain -- '*_templ.go' || true)"; \
	$(GO) tool templ generate >/dev/null 2>templ-generate.log || { cat templ-generate.log >&2; rm -f templ-generate.log; exit 1; }; \
	rm -f templ-generate.log; \
	after_hash="$$(hash_templ)"; \
	after_git="$$( [ $$in_git = 1 ] && git status --porcelain -- '*_templ.go' || true)"; \
	if [ "$$before_hash" != "$$after_hash" ] || [ "$$before_git" != "$$after_git" ]; then \
		echo "templ-check: generated code is STALE: run 'make generate' and commit the *_templ.go files" >&2; \
		diff <(echo "$$before_hash") <(echo "$$after_hash") >&2 || true; \
		diff <(echo "$$before_git") <(echo "$$after_git") >&2 || true; \
		exit 1; \
	fi; echo "templ-check: ok (generated code is up to date)"

# Package lines (ok / FAIL / no test files) are what `go test` prints without -v.
go-test:
	$(GO) test -race -count=1 -timeout $(GO_TEST_TIMEOUT) ./...

# The whole Go suite again with trustdeck's store on PostgreSQL (issue 14): every server
# (internal/testserver) and store the tests start gets a new database of its own on one throwaway
# cluster per test process (internal/testpg: Debian's postgresql, run as the postgres OS user), so
# every package runs, not a subset (those that never open a store run as in the first pass).
# It needs root; elsewhere it is skipped loudly.
go-test-postgres:
	@if [ "$$(id -u)" != 0 ]; then \
		echo "## SKIPPING the Go suite on PostgreSQL: the throwaway cluster runs as the postgres OS user and we are not root" >&2; \
	else \
		echo "go test on PostgreSQL (TRUSTDECK_TEST_DATABASE=postgres)"; \
		TRUSTDECK_TEST_DATABASE=postgres $(GO) test -race -count=1 -timeout $(GO_TEST_TIMEOUT) ./...; \
	fi

# Browser tests: the real binary, Debian's chromium, node's test runner.
E2E_RUN = TRUSTDECK_BIN="$(CURDIR)/$(BIN)" CHROMIUM_PATH="$(CHROMIUM)" $(NODE) --test $(NODE_TEST_FLAGS) e2e/
e2e: build
	@mkdir -p e2e/artifacts
	$(GO) build -o bin/trustdeck-e2e-seed ./e2e/seed
	$(E2E_RUN)

# The browser tests again on PostgreSQL: scripts/withpg starts a throwaway cluster and gives the
# harness (e2e/lib/server.mjs) TRUSTDECK_DATABASE; every server gets a new database on it.
e2e-postgres: build
	@if [ "$$(id -u)" != 0 ]; then \
		echo "## SKIPPING the browser tests on PostgreSQL: the throwaway cluster runs as the postgres OS user and we are not root" >&2; \
	else \
		mkdir -p e2e/artifacts; \
		$(GO) build -o bin/trustdeck-e2e-seed ./e2e/seed; \
		$(GO) build -o bin/withpg ./scripts/withpg; \
		bin/withpg env $(E2E_RUN); \
	fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

bench-peer:
	GO="$(GO)" NOTARY_SERVER="$(NOTARY_SERVER)" scripts/bench-peer.sh

bench-store:
	GO="$(GO)" NOTARY_SERVER="$(NOTARY_SERVER)" scripts/bench-store.sh

# ---------------------------------------------------------------------------------------------
# make fuzz: every fuzz target (func FuzzXxx in a _test.go) for FUZZTIME, one after another.
# `go test -list` finds them, so new targets join by themselves; `make test` runs their seed
# corpora (and testdata/fuzz/) like any test. Each target's whole output goes to FUZZ_LOG_DIR;
# a line per target gives the fuzzing time and executions go reports (a worker reports when it
# has minimised what it found, so short runs under-count). A failing input is written
# to <package>/testdata/fuzz/<target>/: fix the cause and commit the input with the fix.
FUZZTIME      ?= 10m
FUZZ_PARALLEL ?= 1
FUZZ_LOG_DIR  ?= bin/fuzz

fuzz:
	@mkdir -p $(FUZZ_LOG_DIR)
	@module="$$($(GO) list -m)"; \
	targets="$$($(GO) test -list '^Fuzz' ./... | \
		awk '$$1 ~ /^Fuzz/ { names[++n] = $$1; next } $$1 == "ok" { for (i = 1; i <= n; i++) print $$2, names[i]; n = 0 }')"; \
	if [ -z "$$targets" ]; then echo "fuzz: no fuzz targets found" >&2; exit 1; fi; \
	echo "fuzz: $$(wc -l <<< "$$targets") targets, $(FUZZTIME) each, $(FUZZ_PARALLEL) worker(s), logs in $(FUZZ_LOG_DIR)/"; \
	summary=""; failed=0; \
	while read -r pkg name; do \
		short="$${pkg#"$$module"/}"; log="$(FUZZ_LOG_DIR)/$${short//\//_}.$$name.log"; \
		if $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -parallel $(FUZZ_PARALLEL) "$$pkg" \
			</dev/null >"$$log" 2>&1; then result=ok; else result=FAIL; failed=$$((failed + 1)); fi; \
		last="$$(grep '^fuzz: elapsed: .*execs: ' "$$log" | tail -n1 || true)"; \
		elapsed="$$(sed -n 's/^fuzz: elapsed: \([^,]*\),.*/\1/p' <<< "$$last")"; \
		execs="$$(sed -n 's/.* execs: \([0-9]*\) .*/\1/p' <<< "$$last")"; \
		line="$$(printf '%-40s %8s %12s execs  %s' "$$short.$$name" "$${elapsed:-?}" "$${execs:-?}" "$$result")"; \
		echo "fuzz: $$line"; summary+="$$line"$$'\n'; \
		if [ "$$result" = FAIL ]; then grep -v '^fuzz: elapsed: ' "$$log" | tail -n 40 >&2; fi; \
	done <<< "$$targets"; \
	printf '\nfuzz summary: target, fuzzing time, executions, result (%s each)\n%s' "$(FUZZTIME)" "$$summary"; \
	if [ "$$failed" != 0 ]; then echo "fuzz: $$failed target(s) FAILED; see $(FUZZ_LOG_DIR)/" >&2; exit 1; fi

clean:
	rm -rf bin e2e/artifacts e2e/test-results templ-generate.log
