package main

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/livyha/livyha/internal/krbtest"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/livytest"
)

// On a Kerberized cluster the proxy authenticates with its own keytab: a
// fresh token for HTTP/<the server's host> per request. A caller's own
// SPNEGO token (curl --negotiate, minted for the proxy's host) is useless
// to a Livy server, as the README says: the server rejects it.
func TestSPNEGOOwnKeytab(t *testing.T) {
	testutil.NoLeaks(t)
	k := krbtest.Start(t)
	const host = "127.0.0.22" // the Livy server; the proxy is on 127.0.0.1
	if err := k.AddUser("svc-etl", "unused"); err != nil {
		t.Fatal(err)
	}
	if err := k.AddUser("alice", "alice-pw"); err != nil {
		t.Fatal(err)
	}
	svcKT, err := k.Keytab("svc-etl")
	if err != nil {
		t.Fatal(err)
	}
	srvKT, err := k.AddService("HTTP/" + host)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.AddService("HTTP/127.0.0.1"); err != nil { // the proxy's host, for curl's token
		t.Fatal(err)
	}
	srv := livytest.NewServer(t, livytest.Config{Addr: host + ":0", SPNEGOKeytab: srvKT, SPNEGOPrincipal: k.Principal("HTTP/" + host)})

	t.Run("own keytab", func(t *testing.T) {
		p := startProxy(t, "--endpoints", srv.URL(), "--keytab", svcKT, "--principal", k.Principal("svc-etl"), "--krb5-conf", k.Krb5Conf())
		for i := 0; i < 3; i++ { // a fresh token each time: no replay rejection
			if code, _, body := call(t, "GET", p.url+"/batches", ""); code != 200 {
				t.Fatalf("GET /batches through the proxy: %d %s", code, body)
			}
		}
		code, _, body := call(t, "POST", p.url+"/batches", `{"file":"local:/a.jar"}`)
		if code != http.StatusCreated || !strings.Contains(body, `"owner":"svc-etl"`) {
			t.Errorf("create: %d %s, want 201 owned by svc-etl", code, body)
		}
	})
	t.Run("caller's token", func(t *testing.T) {
		curl, err := exec.LookPath("curl")
		if err != nil {
			t.Skip("no curl")
		}
		cc, err := k.Kinit("alice", "alice-pw")
		if err != nil {
			t.Fatal(err)
		}
		p := startProxy(t, "--endpoints", srv.URL())
		cmd := exec.Command(curl, "-sS", "--negotiate", "-u", ":", "-o", "/dev/null", "-w", "%{http_code}", p.url+"/batches")
		cmd.Env = append(testutil.HermeticEnv(), k.Env(cc)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("curl: %v %s", err, out)
		}
		// Hadoop's filter answers 403 to a token it cannot accept.
		if string(out) != "403" && string(out) != "401" {
			t.Errorf("curl --negotiate through a forwarding proxy: %s, want the server's rejection (the token is for HTTP/127.0.0.1)", out)
		}
	})
}
