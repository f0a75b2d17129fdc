// Package livytest runs an in-process stand-in for an Apache Livy server,
// for tests and demos, in the spirit of net/http/httptest.
//
// The stand-in is meant to be faithful: its REST paths, JSON shapes,
// status codes, states and error bodies follow Livy's source (see
// docs/livy-wire.md), so that a client test that passes against it also
// passes against Livy. Among the details it reproduces: null (not absent)
// optional fields, progress as 1.0, case-sensitive request fields with
// unknown ones rejected, {id} resolved by name when not all digits, the
// "Some(<name>)" text of duplicate-name errors, a 500 JSON string when a
// statement is posted to a session that is still starting or (for a
// "shared" session) without a code kind, and Content-Type
// "application/json;charset=utf-8".
//
// # Modes
//
// With an empty Config.ZK the server is standalone: always active, state
// in memory. With a ZooKeeper connect string it registers through
// discovery.Register and keeps Livy's state store in ZooKeeper
// (<StatePrefix>/v1/{batch,interactive}/<id> and .../state counters):
//
//   - discovery.ActivePassive (LIVY-11 / PR #212, Cloudera): the latch
//     leader serves; every other server answers every request with 307 to
//     the same path and query on the leader, body "This is a standby Livy
//     Instance. The redirect url is: <url>", before any authentication.
//     With no known leader it answers 503 {"msg":"no active Livy server"}.
//   - discovery.MultiActive (LIVY-698): every server serves; session ids
//     are <server id>*10_000_000 + counter and a request for a session id
//     of another server gets 307 to its owner. Names are per server.
//
// # Recovery, and what a server knows
//
// As in Livy, the state store is read once, when a server becomes active
// (each time an active-passive server wins the latch; at start in
// multi-active mode), with Livy's recovery rules (below). Until that
// recovery is complete a new leader holds REST requests as a passive that
// knows no other leader does: it serves them once recovered, or answers
// 503 after 500ms (Livy itself does not listen before it has recovered).
// From then on the server's memory is authoritative: reads come from it,
// and the server's own mutations go to memory and through to the store.
// Session ids still come from the store's shared, version-checked counter,
// so they never repeat across servers. Duplicate names are checked
// against memory, so a session another server committed after this one
// recovered — a deposed active in a split brain — is invisible to it,
// name included, until the next takeover. Apart from the id counter, a
// server reads the store only during recovery.
//
// By default a server re-checks, just before committing a mutation, that
// it is still the active one, and redirects if it lost leadership since
// the request came in. That fence is kinder than Livy: PR #212 has none,
// and a deposed active that has not noticed yet still creates jobs. Set
// Config.Unfenced to reproduce that; tests that claim "no duplicates
// across a failover" should also be checked with it where meaningful.
// Config.AbortBeforeCommit and Config.AbortAfterCommit simulate a crash on
// either side of a create's commit (and the former can stall a request
// before its commit).
//
// # Simulated time
//
// States are derived from the creation time stored in each record, in
// units of Config.Step, so they keep progressing across a failover:
//
//	batch:       starting (0–2 steps) → running (2–6) → success, or dead if the file name contains "fail"
//	interactive: starting (0–2 steps) → idle; busy while a statement is pending
//	statement:   waiting (1 step) → running (1 step) → available; statements run one at a time
//
// The toy interpreter computes integer expressions ("1+1" gives
// "res0: Int = 2" for spark), fails code containing "raise" or "throw" with
// Livy's error output shape, and echoes anything else.
//
// Recovery reproduces what Livy's recovery loses: batches that died before
// the server became active and batches rejected for lacking a file are
// gone, and an interactive session whose driver was not up yet is
// recovered as dead (and removed from the store, as Livy removes dead
// sessions).
package livytest
