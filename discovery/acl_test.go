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
	raw := rawConn(t, zkc.ConnectString())
	if err := raw.AddAuth("digest", []byte("livy:secret")); err != nil {
		t.Fatal(err)
	}
	// The directories are the operator's, behind the ACL (the records the
	// registrar adds inherit nothing; listing needs READ on the directory).
	for _, p := range []string{root, root + "/servers", root + "/leader"} {
		if _, err := raw.Create(p, nil, 0, zk.DigestACL(zk.PermAll, "livy", "secret")); err != nil {
			t.Fatal(err)
		}
	}
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
