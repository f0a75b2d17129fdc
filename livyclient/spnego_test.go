package livyclient_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/internal/krbtest"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/livyclient"
	"github.com/livyha/livyha/livytest"
	"github.com/livyha/livyha/retry"
)

// krbEnv is a KDC with user alice (password alicePW), service account
// svc-etl (a keytab) and HTTP/<host> service principals.
type krbEnv struct {
	k        *krbtest.KDC
	svcKT    string            // svc-etl's keytab
	services map[string]string // host → keytab of HTTP/host
}

const alicePW = "alice-pw"

func kerberos(t *testing.T, hosts ...string) *krbEnv {
	t.Helper()
	k := krbtest.Start(t)
	e := &krbEnv{k: k, services: make(map[string]string)}
	if err := k.AddUser("alice", alicePW); err != nil {
		t.Fatal(err)
	}
	if err := k.AddUser("svc-etl", "unused-"+t.Name()); err != nil {
		t.Fatal(err)
	}
	var err error
	if e.svcKT, err = k.Keytab("svc-etl"); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if e.services[h], err = k.AddService("HTTP/" + h); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *krbEnv) conf() livyclient.SPNEGOOption { return livyclient.WithKrb5Conf(e.k.Krb5Conf()) }

// ccache returns an authenticator from a fresh kinit of alice.
func (e *krbEnv) ccache(t *testing.T) *livyclient.SPNEGO {
	t.Helper()
	cc, err := e.k.Kinit("alice", alicePW)
	if err != nil {
		t.Fatal(err)
	}
	a, err := livyclient.NewSPNEGOFromCCache(cc, e.conf())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// server starts a standalone livytest server on host requiring SPNEGO
// for HTTP/host.
func (e *krbEnv) server(t *testing.T, host string) *livytest.Server {
	t.Helper()
	return livytest.NewServer(t, livytest.Config{Addr: host + ":0", SPNEGOKeytab: e.services[host],
		SPNEGOPrincipal: e.k.Principal("HTTP/" + host)})
}

// counting records the hostports an Authenticator is called for.
type counting struct {
	a     livyclient.Authenticator
	mu    sync.Mutex
	hosts []string
}

func (c *counting) Authenticate(req *http.Request, hostport string) error {
	c.mu.Lock()
	c.hosts = append(c.hosts, hostport)
	c.mu.Unlock()
	return c.a.Authenticate(req, hostport)
}

func (c *counting) calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.hosts...)
}

var quickPolicy = retry.Policy{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2, MaxAttempts: 6, MaxElapsed: 5 * time.Second}

func spnegoClient(t *testing.T, a livyclient.Authenticator, urls ...string) *livyclient.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := livyclient.New(livyclient.WithEndpoints(urls...), livyclient.WithAuth(a), livyclient.WithRetry(quickPolicy),
		livyclient.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func hostOf(u string) string { return strings.TrimPrefix(u, "http://") }

// tokenSPN returns the principal the token in a recorded request was for.
func tokenSPN(t *testing.T, r livytest.Request) string {
	t.Helper()
	spn, err := livytest.NegotiateSPN(r.Header.Get("Authorization"))
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	return spn
}

// A server with SPNEGO answers 401 to a client without credentials and
// serves clients whose TGT comes from a keytab, a credential cache (after
// kinit) or a password, each as its own user.
func TestSPNEGOKeytabCCacheAndPassword(t *testing.T) {
	e := kerberos(t, "127.0.0.21")
	s := e.server(t, "127.0.0.21")

	plain, err := livyclient.New(livyclient.WithEndpoints(s.URL()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Version(ctxT(t, 10*time.Second)); !errors.Is(err, livyclient.ErrUnauthorized) {
		t.Fatalf("no credentials: %v, want ErrUnauthorized", err)
	}

	kt, err := livyclient.NewSPNEGOWithKeytab("svc-etl", e.svcKT, e.conf())
	if err != nil {
		t.Fatal(err)
	}
	defer kt.Close()
	pw, err := livyclient.NewSPNEGOWithPassword("alice@"+e.k.Realm(), alicePW, e.conf())
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	for _, tc := range []struct {
		name string
		auth *livyclient.SPNEGO
		user string
	}{{"keytab", kt, "svc-etl"}, {"ccache", e.ccache(t), "alice"}, {"password", pw, "alice"}} {
		t.Run(tc.name, func(t *testing.T) {
			if p := tc.auth.Principal(); p != tc.user+"@"+e.k.Realm() {
				t.Fatalf("Principal() = %q", p)
			}
			c := spnegoClient(t, tc.auth, s.URL())
			ctx := ctxT(t, 20*time.Second)
			if _, err := c.Version(ctx); err != nil {
				t.Fatal(err)
			}
			b, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "/" + tc.name + ".py"})
			if err != nil {
				t.Fatal(err)
			}
			if b.Owner == nil || *b.Owner != tc.user {
				t.Fatalf("owner %v, want %s", b.Owner, tc.user)
			}
		})
	}
	for _, r := range s.Requests() {
		if r.Status/100 == 2 && tokenSPN(t, r) != e.k.Principal("HTTP/127.0.0.21") {
			t.Fatalf("token for %s", tokenSPN(t, r))
		}
	}
}

// In an active-passive pair whose servers have their own host principals,
// the client's request to the passive carries a token for the passive;
// the 307 is followed with a fresh token for the active.
func TestSPNEGOFreshTokenAfterPassiveRedirect(t *testing.T) {
	e := kerberos(t, "127.0.0.21", "127.0.0.22")
	_, _, servers := cluster(t, 2, discovery.ActivePassive, func(c *livytest.Config) {
		host := fmt.Sprintf("127.0.0.2%d", c.ID)
		c.Addr, c.SPNEGOKeytab, c.SPNEGOPrincipal = host+":0", e.services[host], e.k.Principal("HTTP/"+host)
	})
	waitUntil(t, 5*time.Second, "one active server", func() bool { return servers[0].IsActive() != servers[1].IsActive() })
	active, passive := servers[0], servers[1]
	if passive.IsActive() {
		active, passive = passive, active
	}
	auth := &counting{a: e.ccache(t)}
	c := spnegoClient(t, auth, passive.URL(), active.URL()) // a stale view: the passive first

	b, err := c.Batches.Create(ctxT(t, 20*time.Second), &livyclient.CreateBatchRequest{File: "/ha.py"})
	if err != nil {
		t.Fatal(err)
	}
	if b.Owner == nil || *b.Owner != "alice" {
		t.Fatalf("owner %v", b.Owner)
	}
	pr, ar := passive.Requests(), active.Requests()
	if len(pr) != 1 || pr[0].Status != http.StatusTemporaryRedirect || len(ar) != 1 || ar[0].Status != http.StatusCreated {
		t.Fatalf("passive got %+v, active got %+v", pr, ar)
	}
	passiveSPN := e.k.Principal("HTTP/" + strings.Split(hostOf(passive.URL()), ":")[0])
	activeSPN := e.k.Principal("HTTP/" + strings.Split(hostOf(active.URL()), ":")[0])
	if got := tokenSPN(t, pr[0]); got != passiveSPN {
		t.Fatalf("passive received a token for %s, want %s", got, passiveSPN)
	}
	if got := tokenSPN(t, ar[0]); got != activeSPN {
		t.Fatalf("active received a token for %s, want %s", got, activeSPN)
	}
	if got, want := auth.calls(), []string{hostOf(passive.URL()), hostOf(active.URL())}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Authenticate called for %v, want %v", got, want)
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// listenOn starts an httptest server on a given loopback address.
func listenOn(t *testing.T, host string, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(h)
	s.Listener = ln
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// A member that redirects to a host outside the cluster: that host
// receives nothing at all; the member received only tokens for itself,
// a fresh one for every attempt.
func TestSPNEGONothingForANonMember(t *testing.T) {
	e := kerberos(t, "127.0.0.21")
	var mu sync.Mutex
	var foreign, member []string
	outsider := listenOn(t, "127.0.0.22", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		foreign = append(foreign, r.Header.Get("Authorization"))
		mu.Unlock()
	})
	m := listenOn(t, "127.0.0.21", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		member = append(member, r.Header.Get("Authorization"))
		mu.Unlock()
		loc := outsider.URL + r.URL.RequestURI()
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusTemporaryRedirect)
		_, _ = io.WriteString(w, livyclient.StandbyText+". The redirect url is: "+loc)
	})
	auth := &counting{a: e.ccache(t)}
	c := spnegoClient(t, auth, m.URL)
	if _, err := c.Version(ctxT(t, 20*time.Second)); !errors.Is(err, livyclient.ErrUntrustedRedirect) {
		t.Fatalf("Version = %v, want ErrUntrustedRedirect", err)
	}
	if _, err := c.Batches.Create(ctxT(t, 20*time.Second), &livyclient.CreateBatchRequest{File: "/x.py"}); !errors.Is(err, livyclient.ErrUntrustedRedirect) {
		t.Fatalf("Create = %v, want ErrUntrustedRedirect", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(foreign) != 0 {
		t.Fatalf("the non-member received %d requests", len(foreign))
	}
	for _, h := range auth.calls() {
		if h != hostOf(m.URL) {
			t.Fatalf("Authenticate called for %s", h)
		}
	}
	seen := make(map[string]bool)
	for _, h := range member {
		spn, err := livytest.NegotiateSPN(h)
		if err != nil || spn != e.k.Principal("HTTP/127.0.0.21") {
			t.Fatalf("member received a token for %q (%v)", spn, err)
		}
		if seen[h] {
			t.Fatal("the same token was sent twice")
		}
		seen[h] = true
	}
	if len(member) < 2 || len(member) != len(auth.calls()) {
		t.Fatalf("member received %d requests, Authenticate called %d times", len(member), len(auth.calls()))
	}
}

// Kerberos failures are typed, say what to fix, and end the request at
// once: Authenticate is called once per request, and nothing is sent.
func TestSPNEGOErrorsAreTypedAndNotRetried(t *testing.T) {
	e := kerberos(t, "127.0.0.21")
	s := e.server(t, "127.0.0.21")
	unknown := livytest.NewServer(t, livytest.Config{Addr: "127.0.0.23:0", SPNEGOKeytab: e.services["127.0.0.21"]})

	check := func(t *testing.T, a livyclient.Authenticator, srv *livytest.Server, reason livyclient.KerberosReason, text string) {
		t.Helper()
		auth := &counting{a: a}
		c := spnegoClient(t, auth, srv.URL())
		before := len(srv.Requests())
		for i, call := range []func() error{
			func() error { _, err := c.Version(ctxT(t, 20*time.Second)); return err },
			func() error {
				_, err := c.Batches.Create(ctxT(t, 20*time.Second), &livyclient.CreateBatchRequest{File: "/x.py"})
				return err
			},
		} {
			err := call()
			var ke *livyclient.KerberosError
			if !errors.Is(err, livyclient.ErrKerberos) || !errors.As(err, &ke) || ke.Reason != reason {
				t.Fatalf("call %d: %v, want a KerberosError (%v)", i, err, reason)
			}
			if i == 0 {
				t.Logf("%v", err) // what a user sees (no secrets in it)
			}
			if !strings.Contains(err.Error(), text) {
				t.Fatalf("error %q does not say %q", err, text)
			}
			if errors.Is(err, livyclient.ErrAmbiguous) {
				t.Fatalf("a request that was never sent reported as ambiguous: %v", err)
			}
			if n := len(auth.calls()); n != i+1 {
				t.Fatalf("Authenticate called %d times for %d requests", n, i+1)
			}
		}
		if n := len(srv.Requests()) - before; n != 0 {
			t.Fatalf("the server received %d requests", n)
		}
	}

	t.Run("expired ticket, then kinit", func(t *testing.T) {
		cc := filepath.Join(t.TempDir(), "cc")
		if err := e.k.KinitCache(cc, "alice", alicePW, "-l", "2s"); err != nil {
			t.Fatal(err)
		}
		a, err := livyclient.NewSPNEGOFromCCache("FILE:"+cc, e.conf())
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		time.Sleep(2500 * time.Millisecond) // the ticket's lifetime
		check(t, a, s, livyclient.KerberosExpired, "run kinit")
		// The user runs kinit again: the next request uses the new ticket.
		if err := e.k.KinitCache(cc, "alice", alicePW); err != nil {
			t.Fatal(err)
		}
		if _, err := spnegoClient(t, a, s.URL()).Version(ctxT(t, 20*time.Second)); err != nil {
			t.Fatalf("after kinit: %v", err)
		}
	})
	t.Run("no credential cache", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "none")
		t.Setenv("KRB5CCNAME", "FILE:"+missing)
		for _, name := range []string{"", missing} {
			_, err := livyclient.NewSPNEGOFromCCache(name, e.conf())
			var ke *livyclient.KerberosError
			if !errors.As(err, &ke) || ke.Reason != livyclient.KerberosNoCredentials ||
				!strings.Contains(err.Error(), "run kinit") || !strings.Contains(err.Error(), missing) {
				t.Fatalf("NewSPNEGOFromCCache(%q) = %v", name, err)
			}
		}
		if _, err := livyclient.NewSPNEGOFromCCache("KEYRING:persistent:0", e.conf()); !errors.Is(err, livyclient.ErrKerberos) {
			t.Fatalf("a keyring cache: %v", err)
		}
		empty := filepath.Join(t.TempDir(), "empty")
		if err := os.WriteFile(empty, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := livyclient.NewSPNEGOFromCCache(empty, e.conf()); !errors.Is(err, livyclient.ErrKerberos) {
			t.Fatalf("an empty cache: %v", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		a, err := livyclient.NewSPNEGOWithPassword("alice", "not-alices", e.conf())
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		check(t, a, s, livyclient.KerberosBadCredentials, "check the password")
	})
	t.Run("unknown client", func(t *testing.T) {
		a, err := livyclient.NewSPNEGOWithPassword("mallory", "pw", e.conf())
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		check(t, a, s, livyclient.KerberosUnknownClient, "mallory@"+e.k.Realm())
	})
	t.Run("unknown server principal", func(t *testing.T) {
		check(t, e.ccache(t), unknown, livyclient.KerberosUnknownServer, "no service principal HTTP/127.0.0.23@"+e.k.Realm())
	})
	t.Run("no keytab entry", func(t *testing.T) {
		_, err := livyclient.NewSPNEGOWithKeytab("alice", e.svcKT, e.conf())
		var ke *livyclient.KerberosError
		if !errors.As(err, &ke) || ke.Reason != livyclient.KerberosNoKeytabEntry ||
			!strings.Contains(err.Error(), "no keytab entry for alice@"+e.k.Realm()) {
			t.Fatalf("keytab without alice: %v", err)
		}
	})
	t.Run("KDC unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := ln.Addr().String()
		ln.Close()
		conf := filepath.Join(t.TempDir(), "krb5.conf")
		body := fmt.Sprintf("[libdefaults]\n default_realm = %[1]s\n dns_lookup_kdc = false\n udp_preference_limit = 1\n[realms]\n %[1]s = {\n  kdc = %[2]s\n }\n", e.k.Realm(), dead)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		a, err := livyclient.NewSPNEGOWithPassword("alice", alicePW, livyclient.WithKrb5Conf(conf))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		check(t, a, s, livyclient.KerberosKDCUnreachable, conf)
	})
	t.Run("clock skew", func(t *testing.T) {
		skewed, err := krbtest.StartKDC(ctxT(t, 20*time.Second), krbtest.Config{Dir: t.TempDir(), ClockOffset: -10 * time.Minute})
		if err != nil {
			krbtest.SkipOrFatal(t, err)
		}
		defer skewed.Close()
		if err := skewed.AddUser("alice", alicePW); err != nil {
			t.Fatal(err)
		}
		a, err := livyclient.NewSPNEGOWithPassword("alice", alicePW, livyclient.WithKrb5Conf(skewed.Krb5Conf()))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		check(t, a, s, livyclient.KerberosClockSkew, "synchronise the clocks")
	})
}

// The SPN comes from the hostport the transport passes, never from the
// request's Host or URL, and is never looked up in DNS; the request is
// not modified beyond its Authorization header.
func TestSPNEGOUsesTheVettedHostport(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.21:8998":            "HTTP/127.0.0.21",
		"Livy1.Example.COM.:8998":    "HTTP/livy1.example.com",
		"livy.example.com":           "HTTP/livy.example.com",
		"[::1]:8998":                 "HTTP/::1",
		"":                           "",
		"evil/host@OTHER.REALM:8998": "",
	} {
		got, err := livyclient.SPNFor(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("SPNFor(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	e := kerberos(t, "127.0.0.21")
	a := e.ccache(t)
	req, _ := http.NewRequest(http.MethodGet, "http://other.example:1/version", nil)
	req.Host = "evil.example:1"
	if err := a.Authenticate(req, "127.0.0.21:8998"); err != nil {
		t.Fatal(err)
	}
	spn, err := livytest.NegotiateSPN(req.Header.Get("Authorization"))
	if err != nil || spn != e.k.Principal("HTTP/127.0.0.21") {
		t.Fatalf("token for %q, %v", spn, err)
	}
	if req.Host != "evil.example:1" || req.URL.Host != "other.example:1" || len(req.Header) != 1 {
		t.Fatalf("request modified: Host %q URL %q headers %v", req.Host, req.URL.Host, req.Header)
	}
	// Each call mints a new token, even for the same host.
	req2, _ := http.NewRequest(http.MethodGet, "http://livy/version", nil)
	if err := a.Authenticate(req2, "127.0.0.21:8998"); err != nil {
		t.Fatal(err)
	}
	if req2.Header.Get("Authorization") == req.Header.Get("Authorization") {
		t.Fatal("the same token twice")
	}
}

// One authenticator serves concurrent requests (run with -race); Close
// stops gokrb5's TGT renewal goroutine and makes Authenticate fail.
func TestSPNEGOConcurrentUseAndClose(t *testing.T) {
	testutil.NoLeaks(t)
	e := kerberos(t, "127.0.0.21")
	s := e.server(t, "127.0.0.21")
	a, err := livyclient.NewSPNEGOWithKeytab("svc-etl@"+e.k.Realm(), e.svcKT, e.conf())
	if err != nil {
		t.Fatal(err)
	}
	c := spnegoClient(t, a, s.URL())
	var wg sync.WaitGroup
	errs := make(chan error, 16*5)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if _, err := c.Version(ctxT(t, 20*time.Second)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	_ = a.Close()
	req, _ := http.NewRequest(http.MethodGet, "http://livy/", nil)
	if err := a.Authenticate(req, "127.0.0.21:1"); !errors.Is(err, livyclient.ErrKerberos) || req.Header.Get("Authorization") != "" {
		t.Fatalf("Authenticate after Close: %v", err)
	}
}
