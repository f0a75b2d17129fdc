// Package drills holds the reliability drills, as tests: real ZooKeeper
// ensembles (internal/zktest), real livy-sim processes, and livyclient
// under load, through the faults ZooKeeper, networks and servers really
// produce — a ZooKeeper leader killed, total ZooKeeper outages shorter
// and longer than the session, a frozen ZooKeeper node, a black-holed
// connection, a frozen active server, a kill -9 of the active during
// creates. Each asserts its targets (0 duplicate batches, 0 failed reads
// where the design says so) and logs what it measured.
//
// `go test ./internal/drills/` (part of make test, so CI) runs each once;
// `make drills` runs each DRILL_REPEAT times (default 5 there) with -v and
// prints the spreads.
package drills
