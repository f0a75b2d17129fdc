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
// # Profiles
//
// Config.Profile (livy-sim --profile) picks which real server to play: a
// REST surface of one Livy release and an HA behaviour (docs/livy-wire.md
// §9 and §10 cite Livy's source for each point).
//
// REST surfaces (GET /version reports the release):
//
//   - livy-0.7 (0.7.0-incubating): CreateInteractiveRequest has neither
//     ttl nor idleTimeout — Jackson's 400 `Unrecognized field "ttl" (class
//     …CreateInteractiveRequest), not marked as ignorable (15 known
//     properties: …])` —; the session view has 9 fields; create errors are
//     {"msg":"<reason>"} with no "Rejected, Reason: " prefix; appInfo has
//     driverLogUrl and sparkUiUrl; GET …/statements ignores order.
//   - livy-0.8 (0.8.0-incubating): ttl accepted (idleTimeout rejected);
//     the view has 22 fields, and its ttl holds the proxyUser (a Livy bug:
//     null without impersonation, whatever ttl was asked for); the GC
//     treats ttl as an idle timeout; "Rejected, Reason: "; order=desc.
//   - livy-0.9 (0.9.0-incubating): ttl and idleTimeout, 23 fields, appInfo
//     with executorLogUrls. Livy's HEAD has the same REST surface.
//   - pr212 (0.8.0-incubating-SNAPSHOT): 0.7's surface, which PR #212's
//     base still has.
//
// HA behaviours:
//
//   - livyha (the default profile, with livy-0.9's surface): the modes
//     below, through livyha's registrar. It is KINDER THAN ANY LIVY: a
//     passive redirects before authentication and answers 503 (which
//     clients retry) when it knows no leader; a server fences its commits
//     (Config.Unfenced); a graceful stop releases the latch at once;
//     recovered sessions are usable at once (no recovering state); there
//     is no session GC or heartbeat watchdog (Timeouts.GC turns them on),
//     and none of the lifecycle below. Only its version string changed:
//     it reported 0.8.0-incubating while serving 0.9's fields, which no
//     release does.
//   - stock (also every bare release, "livy-0.8", and "stock+livy-0.X"):
//     upstream Livy with livy.server.recovery.mode = recovery and the
//     ZooKeeper state store. With ZK the server keeps the store there and
//     registers nothing; every (re)start recovers all stored sessions.
//     Without ZK it is standalone. Always active; no redirect.
//   - pr212: Livy as PR #212 builds it (pr212.go lists the source). The
//     cluster is Config.LivyConf (PR212LivyConf writes one): ids,
//     hostnames and one port for all. Each server recovers the store and
//     serves (as a standby) before it joins the Curator latch at
//     /<livy.server.ha.key-prefix>/leader with its string id
//     (discovery.JoinPR212Latch); it writes no server record, so clients
//     find the active through livy.conf (discovery's livy-conf: source). A
//     server that is not active answers, after the authentication and
//     CSRF checks, every request with 307: Location = the request URL with
//     only the host replaced by the leader's configured hostname (scheme
//     and port of the request kept, the path re-encoded as Spring does, so
//     "%" becomes "%25", the query appended), body "This is a standby Livy
//     Instance. The redirect url is: <url>\n", no Content-Type. With no
//     usable leader it answers 500 with Jetty's error page — never 503.
//     The server that wins the latch restarts: it answers 307 to itself
//     for Config.SelfRedirectWindow, closes its port (connections refused,
//     requests in flight cut) for Config.RestartWindow, recovers every
//     session again — recovering, even its own —, opens its port, answers
//     307 to itself again for SelfRedirectWindow, and only then serves.
//     It loses the latch without any fence (a deposed active commits what
//     it is serving, with ids from its stale counter, overwriting records).
//     Close is PR #212's SIGTERM: the REST server stops, the latch node
//     stays until the ZooKeeper session expires (Registrar.Abandon), and
//     only then does another server take over — a failover takes the
//     session timeout after a kill -9 and after a clean stop alike.
//     Passives run the session GC and heartbeat watchdog on the sessions
//     they recovered when they started, as PR #212's do, so they remove
//     store records of sessions the active keeps alive (the next takeover
//     then loses them). Config.Mode must be ActivePassive; Unfenced has
//     no effect (nothing is fenced).
//
// In the stock and pr212 profiles, and the bare releases, ids come from
// an in-memory counter seeded at recovery and written back blindly, and
// records are overwritten blindly, as Livy does (only the livyha profile
// version-checks the shared counter); two stored sessions with one name
// make recovery fail (Start returns the error; a pr212 server that hits
// it while taking over stays stopped, holding the latch).
//
// # Livy's session lifecycle
//
// Outside the livyha profile a server also plays what Livy's session
// managers do (lifecycle.go): recovered interactive sessions are
// recovering until their driver reconnects (5 steps) and statements
// posted meanwhile get 500 "java.lang.IllegalStateException: Session is
// in state recovering"; recovered batches are recovering until YARN is
// polled (5 steps); GET …/statements waits while the driver is not
// connected; DELETE stops the session first (shutting_down for a step,
// its store record already gone); the GC deletes finished sessions and
// idle interactive ones and the heartbeat watchdog those whose
// heartbeatTimeoutInSecond passed without a request naming them, with
// Livy's defaults in Livy time (Config.Timeouts; one Step is one Livy
// second). The states Livy reports all occur where it produces them:
// starting, recovering, idle, busy, shutting_down, error (a statement
// containing "sys.exit" kills the interpreter: the session reports error
// until the next statement; the conf hook "livytest.app":"error" fails the
// driver's first ping: error, shutting_down, dead), killed (a batch whose
// file name contains "kill"; "livytest.app":"killed"), dead (a file
// containing "fail"; "livytest.app":"dead"; a DELETE), success. Livy's
// not_started is the REPL's initial state, reported only by the driver
// before the server-side state is Running, which the server never shows
// (repl/Session.scala@0.9:68,87; rsc/driver/RSCDriver.java@0.9:343-348:
// the ping that makes it Running waits for the REPL to be idle), so no
// server, and no livytest profile, reports it.
//
// # Modes (livyha profile)
//
// With an empty Config.ZK the server is standalone: always active, state
// in memory. With a ZooKeeper connect string it registers through
// discovery.Register and keeps Livy's state store in ZooKeeper
// (<StatePrefix>/v1/{batch,interactive}/<id> and .../state counters):
//
//   - discovery.ActivePassive (livyha's version of LIVY-11 / PR #212 and
//     Cloudera's HA; the pr212 profile is PR #212 itself): the latch
//     leader serves; every other server answers every request with 307 to
//     the same path and query on the leader's registered URL, body "This
//     is a standby Livy Instance. The redirect url is: <url>", before any
//     authentication. With no known leader it answers 503 {"msg":"no
//     active Livy server"}.
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
//	             (Livy profiles: killed if it contains "kill"; recovering for 5 steps after a recovery)
//	interactive: starting (0–2 steps) → idle; busy while a statement is pending
//	             (Livy profiles: recovering for 5 steps after a recovery; the lifecycle above)
//	statement:   waiting (1 step) → running (1 step) → available; statements run one at a time
//
// The toy interpreter computes integer expressions ("1+1" gives
// "res0: Int = 2" for spark), fails code containing "raise" or "throw" with
// Livy's error output shape, and echoes anything else. A pyspark statement
// with a magic line runs as Livy's fake_shell.py runs it: %json, %table
// and %matplot of variables bound by literal assignments (in it or in the
// session's earlier pyspark statements) give application/json,
// application/vnd.livy.table.v1+json and image/png outputs (pymagic.go;
// docs/livy-wire.md §12.4). POST /sessions/{id}/completion answers, in
// every profile, as Livy's does, with a toy Scala completer (completion.go).
//
// # Impersonation
//
// Config.Impersonation plays livy.impersonation.enabled (with
// Config.SuperUsers as livy.superusers): a create's proxyUser is its doAs
// query parameter, else its body's proxyUser, else its owner, and a doAs
// the authenticated user may not impersonate is refused with Livy's 403.
// Without it, as in Livy, doAs and proxyUser are ignored and views say
// "proxyUser": null.
//
// Recovery (at a takeover, at start, and when a session-HA server takes
// over a reassigned session) reproduces what Livy's recovery loses:
// batches that died before
// the server became active and batches rejected for lacking a file are
// gone, and an interactive session whose driver was not up yet is
// recovered as dead (and removed from the store, as Livy removes dead
// sessions).
package livytest
