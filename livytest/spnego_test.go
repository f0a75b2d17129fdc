package livytest_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/spnego"

	"github.com/livyha/livyha/internal/krbtest"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/livytest"
)

// kdcWith starts a KDC with user alice (password "alice-pw") and the
// given HTTP service principals, and returns the KDC and their keytabs.
func kdcWith(t *testing.T, services ...string) (*krbtest.KDC, map[string]string) {
	t.Helper()
	k := krbtest.Start(t)
	if err := k.AddUser("alice", "alice-pw"); err != nil {
		t.Fatal(err)
	}
	kts := make(map[string]string)
	for _, s := range services {
		kt, err := k.AddService(s)
		if err != nil {
			t.Fatal(err)
		}
		kts[s] = kt
	}
	return k, kts
}

// spnegoServer starts a standalone server listening on host (a loopback
// address) that requires SPNEGO for HTTP/<host>.
func spnegoServer(t *testing.T, k *krbtest.KDC, host, keytab string) *livytest.Server {
	t.Helper()
	return livytest.NewServer(t, livytest.Config{Addr: host + ":0", SPNEGOKeytab: keytab,
		SPNEGOPrincipal: k.Principal("HTTP/" + host)})
}

// negotiateHeader logs in as alice with gokrb5 (not livyclient) and
// returns an Authorization header value with a token for spn.
func negotiateHeader(t *testing.T, k *krbtest.KDC, spn string) string {
	t.Helper()
	conf, err := config.Load(k.Krb5Conf())
	if err != nil {
		t.Fatal(err)
	}
	cl := client.NewWithPassword("alice", k.Realm(), "alice-pw", conf, client.DisablePAFXFAST(true))
	defer cl.Destroy()
	if err := cl.Login(); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://unused/", nil)
	if err := spnego.SetSPNEGOHeader(cl, req, spn); err != nil {
		t.Fatal(err)
	}
	return req.Header.Get("Authorization")
}

func TestSPNEGORequired(t *testing.T) {
	k, kts := kdcWith(t, "HTTP/127.0.0.21")
	s := spnegoServer(t, k, "127.0.0.21", kts["HTTP/127.0.0.21"])
	c := noRedirect(t)

	// No token, or another scheme: the challenge.
	for _, hdr := range [][]string{nil, {"Authorization", "Basic YWxpY2U6YWxpY2UtcHc="}} {
		r := do(t, c, "GET", s.URL()+"/batches", "", hdr...)
		expect(t, r, http.StatusUnauthorized)
		if got := r.header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != "Negotiate" {
			t.Fatalf("WWW-Authenticate %q, want [Negotiate]", got)
		}
	}
	// A token that is not one: 403, as Hadoop's filter answers an
	// AuthenticationException.
	r := do(t, c, "GET", s.URL()+"/batches", "", "Authorization", "Negotiate bm90IGEgdG9rZW4=")
	expect(t, r, http.StatusForbidden)

	// A valid token: served as alice, the short name (Livy's remote user).
	auth := negotiateHeader(t, k, "HTTP/127.0.0.21")
	r = do(t, c, "POST", s.URL()+"/batches", `{"file":"a.py"}`, "Authorization", auth)
	expect(t, r, http.StatusCreated)
	if o := r.obj(t)["owner"]; o != "alice" {
		t.Fatalf("owner %v, want alice", o)
	}
	// The acceptor's answer: SPNEGO accept-completed (gokrb5 does not ask
	// for mutual authentication, so there is no AP-REP inside).
	wa, ok := strings.CutPrefix(r.header.Get("WWW-Authenticate"), "Negotiate ")
	if !ok {
		t.Fatalf("no Negotiate answer on 201: %q", r.header.Get("WWW-Authenticate"))
	}
	b, err := base64.StdEncoding.DecodeString(wa)
	if err != nil {
		t.Fatal(err)
	}
	var resp spnego.NegTokenResp
	if err := resp.Unmarshal(b); err != nil || resp.State() != spnego.NegStateAcceptCompleted {
		t.Fatalf("answer token: state %v, %v", resp.State(), err)
	}
	// The same token again is a replay.
	r = do(t, c, "POST", s.URL()+"/batches", `{"file":"a.py"}`, "Authorization", auth)
	expect(t, r, http.StatusForbidden)
	if !strings.Contains(string(r.body), "replay") {
		t.Fatalf("replay answered %s", r)
	}
	// The server records which principal each token was for.
	reqs := s.Requests()
	if spn, err := livytest.NegotiateSPN(reqs[len(reqs)-1].Header.Get("Authorization")); err != nil || spn != k.Principal("HTTP/127.0.0.21") {
		t.Fatalf("NegotiateSPN = %q, %v", spn, err)
	}
	if _, err := livytest.NegotiateSPN(reqs[0].Header.Get("Authorization")); err == nil {
		t.Fatal("NegotiateSPN of no header succeeded")
	}
}

// Each server has its own host principal: a token minted for one is
// rejected by the other, even when the other's keytab holds both keys.
func TestSPNEGOTokenForAnotherHost(t *testing.T) {
	k, kts := kdcWith(t, "HTTP/127.0.0.21", "HTTP/127.0.0.22")
	s21 := spnegoServer(t, k, "127.0.0.21", kts["HTTP/127.0.0.21"])
	s22 := spnegoServer(t, k, "127.0.0.22", kts["HTTP/127.0.0.22"])
	both, err := k.Keytab("HTTP/127.0.0.21", "HTTP/127.0.0.22")
	if err != nil {
		t.Fatal(err)
	}
	s22both := spnegoServer(t, k, "127.0.0.22", both)
	c := noRedirect(t)

	expect(t, do(t, c, "GET", s21.URL()+"/batches", "", "Authorization", negotiateHeader(t, k, "HTTP/127.0.0.21")), 200)
	expect(t, do(t, c, "GET", s22.URL()+"/batches", "", "Authorization", negotiateHeader(t, k, "HTTP/127.0.0.22")), 200)
	for _, s := range []*livytest.Server{s22, s22both} {
		r := do(t, c, "GET", s.URL()+"/batches", "", "Authorization", negotiateHeader(t, k, "HTTP/127.0.0.21"))
		expect(t, r, http.StatusForbidden)
		if !strings.Contains(string(r.body), "HTTP/127.0.0.21@") {
			t.Fatalf("rejection %s does not name the token's principal", r)
		}
	}
	expect(t, do(t, c, "GET", s21.URL()+"/batches", "", "Authorization", negotiateHeader(t, k, "HTTP/127.0.0.22")), 403)
}

// runClient runs a real client with the KDC's krb5.conf and ccache (which
// may not exist) and returns its stdout. The output holds no token: the
// clients print only status codes and bodies.
func runClient(t *testing.T, k *krbtest.KDC, ccache string, prog string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = k.Env(ccache)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v; stderr %q", filepath.Base(prog), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// Clients nobody here wrote — curl (MIT GSS-API, SPNEGO framing) and
// python requests + requests_kerberos (pykerberos, raw Kerberos framing,
// mutual authentication REQUIRED by default, so it checks the AP-REP the
// server answers with) — get in with a ticket from kinit, and get 401
// without one.
func TestSPNEGORealClients(t *testing.T) {
	curl := testutil.NeedTool(t, "curl", "-V")
	py := testutil.NeedTool(t, "/usr/bin/python3", "-c", "import requests, requests_kerberos")
	k, kts := kdcWith(t, "HTTP/127.0.0.21")
	s := spnegoServer(t, k, "127.0.0.21", kts["HTTP/127.0.0.21"])
	cc, err := k.Kinit("alice", "alice-pw")
	if err != nil {
		t.Fatal(err)
	}
	noTicket := filepath.Join(t.TempDir(), "no-such-ccache")

	curlArgs := []string{"-sS", "--max-time", "20", "--negotiate", "-u", ":", "-o", "/dev/null", "-w", "%{http_code}"}
	if got := runClient(t, k, cc, curl, append(curlArgs, s.URL()+"/batches")...); got != "200" {
		t.Fatalf("curl with a ticket: %s", got)
	}
	if got := runClient(t, k, noTicket, curl, append(curlArgs, s.URL()+"/batches")...); got != "401" {
		t.Fatalf("curl without a ticket: %s", got)
	}
	created := runClient(t, k, cc, curl, "-sS", "--max-time", "20", "--negotiate", "-u", ":",
		"-H", "Content-Type: application/json", "-d", `{"file":"curl.py"}`, s.URL()+"/batches")
	if !strings.Contains(created, `"owner":"alice"`) {
		t.Fatalf("batch created by curl: %s", created)
	}

	const script = `import sys, requests
from requests_kerberos import HTTPKerberosAuth
r = requests.get(sys.argv[1], auth=HTTPKerberosAuth(), timeout=20)
print(r.status_code)`
	if got := runClient(t, k, cc, py, "-c", script, s.URL()+"/batches"); got != "200" {
		t.Fatalf("python with a ticket: %s", got)
	}
	if got := runClient(t, k, noTicket, py, "-c", script, s.URL()+"/batches"); got != "401" {
		t.Fatalf("python without a ticket: %s", got)
	}
	// Each authenticated request carried a token for this server.
	n := 0
	for _, r := range s.Requests() {
		if r.Status/100 == 2 {
			n++
			if spn, err := livytest.NegotiateSPN(r.Header.Get("Authorization")); err != nil || spn != k.Principal("HTTP/127.0.0.21") {
				t.Fatalf("token for %q, %v", spn, err)
			}
		}
	}
	if n != 3 {
		t.Fatalf("%d authenticated requests, want 3", n)
	}
}
