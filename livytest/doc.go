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
//   - discovery.SessionHA (LIVY-698 with session HA): as MultiActive, and
//     the owner of each session is recorded at <root>/session/<kind>/<id>
//     (discovery/layout/session.go; data: the owner's id), written before
//     the create answers and deleted with the session. Servers join the
//     leader latch; the leader, on each change of its resolver's snapshot,
//     hands the sessions whose recorded owner is no longer registered to
//     the live server with the fewest sessions (itself included), by a
//     version-checked rewrite of the record, and the new owner recovers
//     them from the state store. Every session-scoped request reads the
//     record (one ZooKeeper read; a watch only while it waits for a
//     reassignment): recorded owner → served here or 307 there; no record
//     → the id prefix decides as in MultiActive; no record and no server
//     of that prefix → 404 "Session '<id>' not found.", Livy's answer for
//     an unknown id; a recorded owner that is not registered → the request
//     waits up to 500ms for the leader to move it, then 503. Names stay per
//     server and move with their sessions.
//   - discovery.ActiveActive (the "Multi node HA for batch sessions"
//     design; servers registered as PR #276 registers them, here in the
//     canonical layout): no latch, no redirect; every server serves every
//     session from the shared state store (below). Ids come from the
//     store's shared counter; names are unique cluster-wide.
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
// server reads the store only during recovery (and, with session HA, when
// it takes over a reassigned session).
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
// A session-HA server recovers at start the sessions recorded for it (or,
// without a record, of its prefix), and later each session the leader
// moves to it, with the same recovery rules as of the moment it takes the
// session over: a batch that died before then is gone, an interactive
// session whose driver was not up yet is recovered as dead. Fenced, it
// re-checks the record under its lock before mutating an existing
// session (it forgets the session and redirects if the record moved: it
// may have been deregistered for a while without noticing), and once it
// is closing it answers mutations 503 instead of committing what the new
// owner, having recovered already, would never see.
//
// An active-active server has no memory authority at all: every request
// reads the store (after a ZooKeeper sync, so that a session another
// server committed is seen by the next request anywhere), and every
// mutation is a version-checked write that is re-applied to the new
// record when another server changed it first. Compared with the design
// it models, that is kinder in three ways: the design accepts "a small
// delay to propagate the session information to all Livy nodes" (its
// prototype, cloudera/livy PR #222, keeps a Curator path cache per node),
// livytest has none; the design covers batch sessions only, livytest
// serves interactive sessions the same way; and names are unique
// cluster-wide through a name index of livytest's own
// (<StatePrefix>/v1/<type>-name/<base64url(name)>, created after the
// session record and released after it), where Livy checks names only
// against one server's memory. Having no memory also makes two things
// differ from Livy: stricter, a batch created without "file" is forgotten
// at once (Livy keeps such a rejected session registered in the memory of
// the server that took it); and a dead batch stays in the store, listed
// everywhere with state dead, until it is deleted (Livy's server removes
// a failed batch from its store and keeps it in memory only). Every read
// costs ZooKeeper round trips (a list reads every record).
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
// Recovery (at a takeover, at start, and when a session-HA server takes
// over a reassigned session) reproduces what Livy's recovery loses:
// batches that died before
// the server became active and batches rejected for lacking a file are
// gone, and an interactive session whose driver was not up yet is
// recovered as dead (and removed from the store, as Livy removes dead
// sessions).
package livytest
