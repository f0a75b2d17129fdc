# The README's commands. `make test` is what CI runs (via .ci/run).
GO ?= go
BIN := bin

.PHONY: test build bench bench-failover fuzz demo demo-discovery deps drills

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# Installs ZooKeeper and Curator from Debian when they are missing.
deps:
	@if [ ! -f /usr/share/java/zookeeper.jar ] || [ ! -f /usr/share/java/curator-recipes.jar ]; then \
		s=""; [ "$$(id -u)" = 0 ] || s=sudo; \
		$$s apt-get update && DEBIAN_FRONTEND=noninteractive $$s apt-get install -y zookeeper libcurator-recipes-java libcurator-framework-java; \
	fi

# The main job: a local demo cluster (3-node ZooKeeper, three livy-sim
# servers) used through livyclient across a kill -9 and a graceful failover,
# with the client-observed outage of each.
demo: deps build
	$(GO) run ./examples/failover --sim $(BIN)/livy-sim --find $(BIN)/livy-find

# Discovery only: two livy-registrar sidecars and livy-find.
demo-discovery: deps build
	$(GO) run ./examples/discovery-demo --registrar $(BIN)/livy-registrar --find $(BIN)/livy-find

# The numbers of BENCHMARKS.md: runs the benchmarks and prints one table
# (the go test commands it runs are listed under it). About 2 minutes.
bench:
	$(GO) run ./internal/benchtable -go $(GO)

# Client-observed outage next to the servers' own failover time over 5 runs
# of the demo per profile (livyha, PR #212; kill -9 with a 2s ZooKeeper
# session, then SIGTERM); then, per server profile (livyha, PR #212), the
# time until the client's view names a new active and the slowest request
# across a kill -9 and a SIGTERM of the active under load, and a stock Livy
# (no HA) killed and restarted (5 runs each).
bench-failover: deps build
	@for p in livyha pr212; do for i in 1 2 3 4 5; do \
		$(GO) run ./examples/failover --sim $(BIN)/livy-sim --find $(BIN)/livy-find --profile $$p 2>/dev/null | grep summary; done; done
	@DRILL_REPEAT=5 $(GO) test -count=1 -v -run 'TestDrill((KillActive|GracefulStop)DuringCreates|StockRestart)' ./internal/drills/ 2>&1 | \
		grep -E 'of the active during creates|view on a new active|stock Livy' | sed 's/^ *servers_test.go:[0-9]*: //'

# The reliability drills (internal/drills), each repeated DRILL_REPEAT
# times (default 5), with what each measured. make test runs each once.
DRILL_REPEAT ?= 5
drills: deps
	DRILL_REPEAT=$(DRILL_REPEAT) $(GO) test -count=1 -v -timeout 60m ./internal/drills/ 2>&1 | grep -E '^(=== RUN|--- |PASS|FAIL|ok)|drills|_test.go'

fuzz:
	for f in FuzzParseConnectString FuzzParseTarget; do \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s ./discovery/ || exit 1; done
	for f in FuzzParseServerData FuzzParseServerNodeName FuzzLatch FuzzParseHiveNode FuzzParseServiceRecord \
		FuzzParseLivyConf FuzzParsePR212Participant FuzzPR212ConfigFrom FuzzParsePR189URI FuzzParsePR276Service \
		FuzzParseSessionNodeName FuzzParseSessionOwner; do \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s ./discovery/layout/ || exit 1; done
