package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/internal/tlstest"
	"github.com/livyha/livyha/internal/zktest"
	"github.com/livyha/livyha/livyclient"
)

var listeningHTTPS = regexp.MustCompile(`^livy-sim: id=(\S+) listening on (https://127\.0\.0\.1:\d+)$`)

// startHTTPS runs livy-sim with extra environment and waits for its https
// listening line.
func startHTTPS(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p, m := launch(t, env, listeningHTTPS, args...)
	return &proc{Proc: p, url: m[2]}
}

// curl runs the real curl with args and returns its stdout, stderr and
// exit code.
func curl(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	path, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl not installed")
		}
		t.Skip("curl not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{"-sS", "--max-time", "10"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// Two livy-sim processes serving https only (--tls-cert/--tls-key, and the
// variables) with a private CA: they register https URLs; curl --cacert
// (a client nobody here wrote) gets the active's /version, the passive's
// 307 to the active's https URL, and follows it with -L for a POST;
// without the CA curl refuses the certificate. livyclient with
// WithCAFile drives the cluster through ZooKeeper across a SIGTERM
// failover.
func TestHTTPSBetweenProcesses(t *testing.T) {
	b := tlstest.New(t, "livy-sim CA")
	zkc := zktest.Shared(t)
	root := testRoot(t)
	common := []string{"--zk", zkc.ConnectString(), "--root", root, "--session-timeout", "1s", "--step", "20ms"}
	a := startHTTPS(t, nil, append([]string{"--id", "1", "--tls-cert", b.CertFile, "--tls-key", b.KeyFile}, common...)...)
	p := startHTTPS(t, []string{"LIVY_TLS_CERT=" + b.CertFile, "LIVY_TLS_KEY=" + b.KeyFile}, append([]string{"--id", "2"}, common...)...)

	// The registered records name https URLs.
	r, err := discovery.NewResolver(zkc.ConnectString(), discovery.WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		s, err := r.Wait(wctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Servers) == 2 {
			for _, srv := range s.Servers {
				if srv.URL != a.url && srv.URL != p.url {
					t.Fatalf("registered %s, want one of %s %s", srv.URL, a.url, p.url)
				}
			}
			break
		}
		select {
		case <-s.Changed():
		case <-wctx.Done():
			t.Fatal("two servers not registered")
		}
	}

	// curl, with the CA: the active serves.
	out, errText, code := curl(t, "--cacert", b.CAFile, a.url+"/version")
	var v struct{ Version string }
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Version == "" {
		t.Fatalf("curl --cacert %s/version: exit %d, %q, %q", a.url, code, out, errText)
	}
	// The passive answers 307 to the active's https URL.
	out, errText, code = curl(t, "--cacert", b.CAFile, "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", p.url+"/batches")
	if code != 0 || out != "307 "+a.url+"/batches" {
		t.Fatalf("curl the passive: exit %d, %q, %q", code, out, errText)
	}
	// curl -L follows it with the POST and its body.
	out, errText, code = curl(t, "--cacert", b.CAFile, "-L", "-H", "Content-Type: application/json",
		"-d", `{"file":"curl.py","name":"via-curl"}`, "-w", "\n%{http_code} %{num_redirects}", p.url+"/batches")
	if code != 0 || !strings.HasSuffix(out, "\n201 1") || !strings.Contains(out, `"name":"via-curl"`) {
		t.Fatalf("curl -L POST via the passive: exit %d, %q, %q", code, out, errText)
	}
	// Without the CA: curl refuses the certificate (exit 60).
	if _, errText, code := curl(t, a.url+"/version"); code != 60 {
		t.Fatalf("curl without --cacert: exit %d, %q", code, errText)
	}
	// Plain http against the https port gets no Livy answer.
	if out, _, _ := curl(t, "-w", "%{http_code}", "-o", "/dev/null", "http"+strings.TrimPrefix(a.url, "https")+"/version"); out == "200" {
		t.Fatal("the https port answered plain http")
	}

	// livyclient over ZooKeeper with WithCAFile, across a SIGTERM.
	c, err := livyclient.New(livyclient.WithTarget(zkc.ConnectString(), discovery.WithRoot(root)), livyclient.WithCAFile(b.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	bt, err := c.Batches.GetByName(ctx, "via-curl")
	if err != nil {
		t.Fatalf("livyclient GetByName over https: %v", err)
	}
	a.Send(syscall.SIGTERM)
	if code := a.Wait(5 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM; stderr %q", code, a.Text(testutil.Stderr))
	}
	got, err := c.Batches.Get(ctx, bt.ID)
	if err != nil || got.ID != bt.ID {
		t.Fatalf("livyclient after the failover: %+v, %v", got, err)
	}
	if out, _, code := curl(t, "--cacert", b.CAFile, "-o", "/dev/null", "-w", "%{http_code}", p.url+"/version"); code != 0 || out != "200" {
		t.Fatalf("the new active over https: %q, exit %d", out, code)
	}
}

func TestTLSUsage(t *testing.T) {
	b := tlstest.New(t, "livy-sim CA")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--zk", "127.0.0.1:1", "--id", "1", "--tls-cert", b.CertFile}, "needs --tls-key"},
		{[]string{"--zk", "127.0.0.1:1", "--id", "1", "--tls-key", b.KeyFile}, "needs --tls-cert"},
		{[]string{"--zk", "127.0.0.1:1", "--id", "1", "--tls-cert", b.KeyFile, "--tls-key", b.CertFile}, b.KeyFile},
		{[]string{"--zk", "127.0.0.1:1", "--id", "1", "--tls-cert", b.CertFile, "--tls-key", b.KeyFile + ".none"}, ".none"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), tc.args, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), tc.want) ||
			strings.Contains(errb.String(), "PRIVATE KEY") {
			t.Errorf("%q: exit %d, stderr %q; want a usage error with %q", tc.args, code, errb.String(), tc.want)
		}
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &out, &errb); code != exitOK ||
		!strings.Contains(out.String(), "-tls-cert") || !strings.Contains(out.String(), "-tls-key") {
		t.Fatalf("-h: exit %d, %q", code, out.String())
	}
}
