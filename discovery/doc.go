// Package discovery finds the active server of a highly-available Apache
// Livy cluster, or the server that owns a session, in every deployment
// that exists, and publishes livyha's own servers.
//
// # Resolver, sources, snapshots
//
// A Resolver keeps an immutable Snapshot of the cluster up to date from a
// Source and answers lookups from it. Warm lookups (Active, Owner) read
// the current snapshot without a lock, a ZooKeeper round trip or an
// allocation. Consumers such as livyclient and thrift pick servers from
// snapshots; they never talk to ZooKeeper and never know which source
// they read. As in grpc-go's resolver, a source only turns one
// configuration into a stream of States (NewResolverFromSource takes any
// Source; package discovery/manual has one for tests).
//
// Each Snapshot carries the cluster's Mode, so lookups cannot be asked
// with the wrong one:
//
//   - ActivePassive: the leader owns everything; passives answer 307.
//   - MultiActive (LIVY-698): session N belongs to server N / 10_000_000.
//   - SessionHA (LIVY-698 session HA, LENS-658): the owner of session N of
//     a kind is stored in <root>/session/<kind>/<N>, read on the first
//     lookup, then watched and cached (bounded); the id prefix decides
//     when there is no record.
//   - ActiveActive (PR #276, "Multi node HA for batch sessions"): no
//     leader; any live server serves any session.
//
// # Targets
//
// One target string, parsed by ParseTarget, selects the source and its
// parameters, in the manner of gRPC targets and Hive JDBC URLs:
//
//	zk1:2181,zk2:2181/apps                      livyha's canonical layout under /livy (a plain connect string)
//	zk://zk1:2181,zk2:2181/apps?root=/livy&mode=multi-active
//	zk://zk1:2181?layout=pr212&conf=/etc/livy/conf/livy.conf   Livy PR #212 (LIVY-11): a Curator latch, hosts in livy.conf
//	livy-conf:///etc/livy/conf/livy.conf        the same, ZooKeeper from livy.server.ha.zookeeper-url
//	zk://zk1:2181?layout=pr189                  Livy PR #189 (LIVY-616): /livy/server.uri
//	zk://zk1:2181?layout=pr276                  Livy PR #276 (LIVY-723): /livy/zk/services/<ip>:<port>, active-active
//	zk://zk1:2181?layout=hive&namespace=kyuubi  a HiveServer2 or Kyuubi namespace (Thrift only)
//	zk://zk1:2181?layout=hive-ha                HiveServer2 zooKeeperHA (active/passive ServiceRecords)
//	static://livy1:8998,livy2:8998              a static list (Cloudera CDP): probed with GET /version
//
// Target documents every parameter. A static list learns the active from
// who answers or from a passive's 307; a server that a listed passive
// names as active becomes a member although it is not listed.
//
// # Diagnostics
//
// When a source finds nothing, its error says what it read and what else
// is there ("no servers registered under /nothere/servers; found a PR #276
// layout at /livy/zk/services: use zk://…?layout=pr276…"); Probe lists
// every known layout under a ZooKeeper root with the target to use. A
// ZooKeeper ACL that denies access is ErrNotAuthenticated, not an outage.
// Garbage in ZooKeeper (znodes that do not parse, ids claimed twice)
// never breaks resolution: such records are skipped and listed in
// Snapshot.Problems with a reason.
//
// # Publishing servers
//
// A Registrar (server side) publishes one server in the canonical layout
// and, with WithElection, joins a leader latch that is compatible with
// Apache Curator's LeaderLatch (a Go Registrar and a Curator participant
// can share one latch and agree on the leader). With WithHiveRecord it
// holds a Hive-compatible serverUri= record while it leads, so that
// unmodified Hive JDBC drivers and gohive find only the active server.
// The formats themselves live in package discovery/layout, one file per
// layout, each with its writer and its parser.
//
// go-zookeeper has no chroot support, so a chroot in the connect string
// ("zk1:2181,zk2:2181/apps") is applied by this package to every path.
// Design notes: docs/design.md in the repository.
package discovery
