// Package discovery finds the servers of a highly-available Apache Livy
// cluster in ZooKeeper, and publishes them there.
//
// The canonical layout (see docs/design.md) under a root (default "/livy"):
//
//	<root>/servers/serverUri=<host>:<port>;version=<v>;sequence=<10 digits>  ephemeral-sequential, data k=v;k=v
//	<root>/leader/_c_<uuid>-latch-<10 digits>                                ephemeral-sequential, data = server id
//
// The leader latch is compatible with Apache Curator's LeaderLatch: a Go
// Registrar and a Curator participant can share one latch and agree on the
// leader.
//
// A Registrar (server side) publishes one server and, optionally, joins the
// latch. A Resolver (client side) keeps an immutable Snapshot of the layout
// up to date from ZooKeeper watches; lookups (Active, Owner, Endpoints) read
// that snapshot without a ZooKeeper round trip and, when warm, without
// allocating. Consumers such as the Livy REST client pick servers from
// snapshots; they never talk to ZooKeeper themselves.
//
// Two modes decide which server owns a Livy session: ActivePassive (the
// latch leader owns everything; passive servers answer 307) and MultiActive
// (LIVY-698: session N belongs to server N / 10_000_000).
//
// Garbage in ZooKeeper (znodes that do not parse, ids claimed twice) never
// breaks resolution: such records are skipped and listed in
// Snapshot.Problems with a reason.
//
// Hive compatibility: ReadHive reads a HiveServer2 namespace once, in
// Hive's zooKeeper mode (serverUri= nodes, hive.go) or zooKeeperHA mode
// (ServiceRecord JSON, hive_ha.go), for Thrift/JDBC clients. With
// WithHiveRecord a Registrar holds a Hive-compatible serverUri= record while
// it leads, so that unmodified Hive JDBC drivers and gohive find only the
// active server.
//
// go-zookeeper has no chroot support, so a chroot in the connect string
// ("zk1:2181,zk2:2181/apps") is applied by this package to every path.
package discovery
