package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livyha/livyha/internal/krbtest"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/internal/zktest"
)

// livy-sim --spnego-keytab: curl --negotiate with a ticket from kinit gets
// 200, without a ticket 401 (the Negotiate challenge).
func TestSPNEGOFlags(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip("curl not installed")
	}
	k := krbtest.Start(t)
	kt, err := k.AddService("HTTP/127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := k.AddUser("alice", "alice-pw"); err != nil {
		t.Fatal(err)
	}
	cc, err := k.Kinit("alice", "alice-pw")
	if err != nil {
		t.Fatal(err)
	}

	// Usage errors are found before anything starts.
	for _, args := range [][]string{
		{"--spnego-principal", "HTTP/127.0.0.1"},
		{"--spnego-keytab", filepath.Join(t.TempDir(), "missing.keytab")},
		{"--spnego-keytab", kt, "--spnego-principal", "HTTP/127.0.0.99"},
		{"--spnego-keytab", kt, "--spnego-principal", "alice"},
		{"--spnego-keytab", kt, "--basic-auth", "u:p"},
	} {
		var out, errb bytes.Buffer
		full := append([]string{"--zk", "127.0.0.1:1", "--id", "1"}, args...)
		if code := run(context.Background(), full, &out, &errb); code != exitUsage {
			t.Errorf("%q: exit %d, want %d; stderr %q", args, code, exitUsage, errb.String())
		}
	}

	zkc := zktest.Shared(t)
	p := start(t, "--zk", zkc.ConnectString(), "--root", testRoot(t), "--id", "1",
		"--spnego-keytab", kt, "--spnego-principal", k.Principal("HTTP/127.0.0.1"))
	// Active once it asks for credentials instead of redirecting.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := version(t, p.url)
		if code == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /version answers %d; stderr %q", code, p.Text(testutil.Stderr))
		}
		time.Sleep(10 * time.Millisecond)
	}
	curlCode := func(ccache string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, curl, "-sS", "--negotiate", "-u", ":", "-o", "/dev/null", "-w", "%{http_code}", p.url+"/version")
		cmd.Env = k.Env(ccache)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("curl: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	if got := curlCode(cc); got != "200" {
		t.Fatalf("curl with a ticket: %s; stderr %q", got, p.Text(testutil.Stderr))
	}
	if got := curlCode(filepath.Join(t.TempDir(), "no-ccache")); got != "401" {
		t.Fatalf("curl without a ticket: %s", got)
	}
}
