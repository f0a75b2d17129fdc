package livyclient_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/internal/zktest"
	"github.com/livyha/livyha/livyclient"
	"github.com/livyha/livyha/livytest"
)

// The commit-without-answer case against a PR #212 server (unfenced, found
// through its livy.conf): the create's answer is lost after the server
// committed it; the client looks the batch up by name instead of making a
// second one.
func TestNoDuplicateAfterCommitWithoutAnswerPR212(t *testing.T) {
	zkc := zktest.Shared(t)
	host := "127.0.0.51"
	port := testutil.FreePortOn(t, host)
	root := testRoot(t)
	conf := livytest.PR212LivyConf(livytest.PR212Cluster{ZK: zkc.ConnectString(), IDs: []string{"a"}, Hosts: []string{host},
		Port: port, KeyPrefix: "pr212" + strings.ReplaceAll(root, "/", "-"), StatePrefix: strings.TrimPrefix(root, "/")})
	data, err := conf.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "livy.conf")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var aborted atomic.Bool
	srv := livytest.NewServer(t, livytest.Config{Profile: livytest.ProfilePR212, LivyConf: conf, HAID: "a",
		SessionTimeout: time.Second, Step: 20 * time.Millisecond,
		AbortAfterCommit: func(r *http.Request) bool { return r.URL.Path == "/batches" && aborted.CompareAndSwap(false, true) }})
	c, err := livyclient.New(livyclient.WithTarget("livy-conf://"+path), livyclient.WithPollInterval(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := ctxT(t, 20*time.Second)
	createdOnce(t, ctx, c, srv, &aborted)
}
