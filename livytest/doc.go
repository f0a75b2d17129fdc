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
// (<StatePrefix>/v1/{batch,interactive}/<id> and .../state counters), read
// through on every request, so whichever server is active serves every
// session committed before:
//
//   - discovery.ActivePassive (LIVY-11 / PR #212, Cloudera): the latch
//     leader serves; every other server answers every request with 307 to
//     the same path and query on the leader, body "This is a standby Livy
//     Instance. The redirect url is: <url>", before any authentication.
//     With no known leader it answers 503 {"msg":"no active Livy server"}.
//   - discovery.MultiActive (LIVY-698): every server serves; session ids
//     are <server id>*10_000_000 + counter and a request for a session of
//     another server (by id, or by name found in the store) gets 307 to
//     its owner.
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
// A server taking over also reproduces what Livy's recovery loses: batches
// that died before it became active and batches rejected for lacking a
// file are gone, and an interactive session whose driver was not up yet is
// recovered as dead.
package livytest
