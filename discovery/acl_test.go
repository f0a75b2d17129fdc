package discovery

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/livyha/livyha/internal/zktest"
)

// A root behind a digest ACL: without credentials a resolver's Wait ends at
// once with ErrNotAuthenticated (not "unavailable" after the whole
// timeout); with WithZKAuth the Registrar and the Resolver work.
func TestDigestACL(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	// The directories are the operator's, behind the ACL (the records the
	// registrar adds inherit nothing; listing needs READ on the directory).
	protect(t, zkc.ConnectString(), root, root+"/servers", root+"/leader")
	auth := WithZKAuth("digest", []byte("livy:secret"))
	register(t, zkc.ConnectString(), root, 1, true, auth)

	r := resolver(t, zkc.ConnectString(), root)
	start := time.Now()
	_, err := r.Wait(ctxT(t, 10*time.Second))
	if !errors.Is(err, ErrNotAuthenticated) || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), root) {
		t.Fatalf("Wait without credentials = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Wait without credentials took %v", d)
	}
	t.Logf("without credentials: %v (after %v)", err, time.Since(start).Round(time.Millisecond))

	bad := resolver(t, zkc.ConnectString(), root, WithZKAuth("digest", []byte("livy:wrong")))
	if _, err := bad.Wait(ctxT(t, 10*time.Second)); !errors.Is(err, ErrNotAuthenticated) {
		t.Fatalf("Wait with wrong credentials = %v", err)
	}

	good := resolver(t, zkc.ConnectString(), root, auth)
	s := waitFor(t, good, 10*time.Second, "leader 1", func(s *Snapshot) bool { return leaderID(s) == 1 })
	if len(s.Problems) != 0 {
		t.Fatalf("problems %v", s.Problems)
	}
}

// A Registrar without the credentials an ACL'd root needs fails at once
// with ErrNotAuthenticated (it retried until its deadline before).
func TestRegistrarDeniedByACL(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	protect(t, zkc.ConnectString(), root)
	start := time.Now()
	_, err := Register(ctxT(t, 10*time.Second), zkc.ConnectString(), ServerRecord{ID: 1, URL: "http://127.0.0.1:1"}, WithRoot(root))
	if !errors.Is(err, ErrNotAuthenticated) || time.Since(start) > 5*time.Second {
		t.Fatalf("Register under an ACL without credentials = %v after %v", err, time.Since(start))
	}
	t.Logf("%v (after %v)", err, time.Since(start).Round(time.Millisecond))
	g, err := Register(ctxT(t, 10*time.Second), zkc.ConnectString(), ServerRecord{ID: 1, URL: "http://127.0.0.1:1"}, WithRoot(root),
		WithZKAuth("digest", []byte("livy:secret")))
	if err != nil {
		t.Fatalf("Register with credentials: %v", err)
	}
	g.Close()
}

// Only the root is behind the ACL (the layout's nodes do not exist for
// anyone): "no servers", and also ErrNotAuthenticated, saying why.
func TestRootOnlyACL(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	protect(t, zkc.ConnectString(), root)
	r := resolver(t, zkc.ConnectString(), root)
	_, err := r.Active(ctxT(t, 10*time.Second))
	if !errors.Is(err, ErrNotAuthenticated) || !errors.Is(err, ErrNoServers) || !strings.Contains(err.Error(), root+" is not readable") {
		t.Fatalf("Active under a root-only ACL = %v", err)
	}
}

// With credentials a Registrar's nodes are creator-all, world-read: an
// unauthenticated client reads the cluster but can neither delete a record
// nor forge one; a second registrar with the same credentials joins.
func TestRegistrarACLStopsForgers(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	auth := WithZKAuth("digest", []byte("livy:secret"))
	g := register(t, zkc.ConnectString(), root, 1, true, auth)
	register(t, zkc.ConnectString(), root, 2, true, auth)

	r := resolver(t, zkc.ConnectString(), root) // no credentials: reading is allowed
	waitFor(t, r, 10*time.Second, "leader 1 of 2", func(s *Snapshot) bool { return leaderID(s) == 1 && len(s.Servers) == 2 })

	forger := rawConn(t, zkc.ConnectString())
	if err := forger.Delete(g.RecordPath(), -1); !errors.Is(err, zk.ErrNoAuth) {
		t.Fatalf("unauthenticated delete of a record: %v", err)
	}
	_, err := forger.Create(root+"/servers/serverUri=evil:1;version=x;sequence=0000000001",
		[]byte("livy.server.id=1;livy.server.url=http://evil:1"), zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
	if !errors.Is(err, zk.ErrNoAuth) {
		t.Fatalf("unauthenticated forged record: %v", err)
	}
	if _, err := forger.Create(root+"/leader/_c_x-latch-0000000000", []byte("9"), zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); !errors.Is(err, zk.ErrNoAuth) {
		t.Fatalf("unauthenticated forged latch node: %v", err)
	}
}

// A second server with the same id is refused (ErrIDTaken naming the
// holder) unless it takes over; a restart after the first one is gone
// registers normally.
func TestRegisterRefusesTakenID(t *testing.T) {
	zkc := zktest.Shared(t)
	noLeaks(t)
	root := testRoot(t)
	first := register(t, zkc.ConnectString(), root, 3, true)
	_, err := Register(ctxT(t, 10*time.Second), zkc.ConnectString(), ServerRecord{ID: 3, URL: "http://127.0.0.1:9"}, WithRoot(root))
	var it *IDTakenError
	if !errors.Is(err, ErrIDTaken) || !errors.As(err, &it) || it.Node != first.RecordPath() {
		t.Fatalf("second id 3 = %v", err)
	}
	g, err := Register(ctxT(t, 10*time.Second), zkc.ConnectString(), ServerRecord{ID: 3, URL: "http://127.0.0.1:9"}, WithRoot(root), WithTakeover(true))
	if err != nil {
		t.Fatalf("takeover: %v", err)
	}
	g.Close()
	first.Close()
	g, err = Register(ctxT(t, 10*time.Second), zkc.ConnectString(), ServerRecord{ID: 3, URL: "http://127.0.0.1:9"}, WithRoot(root))
	if err != nil {
		t.Fatalf("after the first left: %v", err)
	}
	g.Close()
}

// protect creates the nodes with a digest ACL that only livy:secret may
// use.
func protect(t *testing.T, connect string, paths ...string) {
	t.Helper()
	raw := rawConn(t, connect)
	if err := raw.AddAuth("digest", []byte("livy:secret")); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if _, err := raw.Create(p, nil, 0, zk.DigestACL(zk.PermAll, "livy", "secret")); err != nil {
			t.Fatal(err)
		}
	}
}
