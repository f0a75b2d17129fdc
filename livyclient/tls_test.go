package livyclient_test

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/internal/testutil"
	"github.com/livyha/livyha/internal/tlstest"
	"github.com/livyha/livyha/livyclient"
	"github.com/livyha/livyha/livytest"
)

const untrustedText = "server certificate not trusted: give the cluster's CA with WithCAFile / --ca-file"

// tlsServer is an https test server presenting b's certificate (127.0.0.1)
// that counts the requests it gets.
func tlsServer(t *testing.T, b *tlstest.Bundle, h http.Handler) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, r)
	}))
	s.TLS = b.Leaf.ServerConfig()
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are expected
	s.StartTLS()
	t.Cleanup(s.Close)
	return s, &n
}

var versionOK = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"version":"0.8.0-incubating"}`))
})

// An https-only active-passive cluster (livytest with TLSCert/TLSKey over
// the shared ZooKeeper) driven by livyclient with WithCAFile: the servers
// register https URLs; a passive's 307 is followed over https with the
// body; a client over the ZooKeeper view follows a failover over https.
func TestHTTPSCluster(t *testing.T) {
	b := tlstest.New(t, "livy CA")
	connect, root, servers := cluster(t, 2, discovery.ActivePassive, func(c *livytest.Config) {
		c.TLSCert, c.TLSKey = b.CertFile, b.KeyFile
	})
	active, passive := servers[0], servers[1]
	for _, s := range servers {
		if !strings.HasPrefix(s.URL(), "https://127.0.0.1:") {
			t.Fatalf("server URL %s, want https", s.URL())
		}
	}
	r, err := discovery.NewResolver(connect, discovery.WithRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	snap, err := r.Wait(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snap.Servers {
		if !strings.HasPrefix(s.URL, "https://") {
			t.Fatalf("registered URL %s, want https", s.URL)
		}
	}

	// A static list, passive first: its 307 is followed over https.
	c, err := livyclient.New(livyclient.WithEndpoints(passive.URL(), active.URL()), livyclient.WithCAFile(b.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	bt, err := c.Batches.Create(ctxT(t, 10*time.Second), &livyclient.CreateBatchRequest{File: "/tls.py", Name: "tls-job"})
	if err != nil || bt.Name == nil || *bt.Name != "tls-job" {
		t.Fatalf("Create via the passive over https = %+v, %v", bt, err)
	}
	var redirected bool
	for _, q := range passive.Requests() {
		redirected = redirected || (q.Method == http.MethodPost && q.Status == http.StatusTemporaryRedirect)
	}
	if !redirected {
		t.Fatalf("the passive did not answer the POST with a 307: %+v", passive.Requests())
	}
	var served bool
	for _, q := range active.Requests() {
		served = served || (q.Method == http.MethodPost && q.Status == http.StatusCreated)
	}
	if !served {
		t.Fatalf("the active did not serve the POST: %+v", active.Requests())
	}

	// Through ZooKeeper, across a failover.
	zc, err := livyclient.New(livyclient.WithTarget(connect, discovery.WithRoot(root)), livyclient.WithCAFile(b.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	defer zc.Close()
	if got, err := zc.Batches.Get(ctxT(t, 10*time.Second), bt.ID); err != nil || got.ID != bt.ID {
		t.Fatalf("Get over https = %+v, %v", got, err)
	}
	if err := active.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := zc.Batches.GetByName(ctxT(t, 20*time.Second), "tls-job"); err != nil || got.ID != bt.ID {
		t.Fatalf("Get after the failover = %+v, %v", got, err)
	}

	// The same cluster with another CA, or the system roots: the error says
	// what to do, at once (it is not retried), and nothing was served.
	other := tlstest.New(t, "another CA")
	before := len(passive.Requests())
	for name, opts := range map[string][]livyclient.Option{
		"wrong CA":     {livyclient.WithCAFile(other.CAFile)},
		"system roots": nil,
	} {
		wc, err := livyclient.New(append([]livyclient.Option{livyclient.WithEndpoints(passive.URL())}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = wc.Version(ctxT(t, 20*time.Second))
		took := time.Since(start)
		t.Logf("%s: %v (after %v)", name, err, took.Round(time.Millisecond))
		var ce *livyclient.CertificateError
		if !errors.Is(err, livyclient.ErrUntrustedCertificate) || !errors.As(err, &ce) || !strings.Contains(err.Error(), untrustedText) ||
			!strings.Contains(err.Error(), strings.TrimPrefix(passive.URL(), "https://")) {
			t.Fatalf("%s: %v", name, err)
		}
		if took > 2*time.Second {
			t.Fatalf("%s: the error took %v: retried?", name, took)
		}
	}
	if n := len(passive.Requests()); n != before {
		t.Fatalf("the server got %d requests over untrusted handshakes", n-before)
	}
}

// A server reached over https that redirects to http — even to a trusted
// host — is refused: nothing is sent over plain http.
func TestHTTPSToHTTPRedirectRefused(t *testing.T) {
	b := tlstest.New(t, "livy CA")
	var plainHits atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plainHits.Add(1)
		versionOK(w, r)
	}))
	defer plain.Close()
	secure, _ := tlsServer(t, b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", plain.URL+r.URL.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
		_, _ = w.Write([]byte(livyclient.StandbyText + plain.URL + r.URL.RequestURI()))
	}))
	// The plain server is trusted as a redirect target: the scheme alone
	// is what refuses it.
	c, err := livyclient.New(livyclient.WithEndpoints(secure.URL), livyclient.WithCAFile(b.CAFile),
		livyclient.WithTrustedHosts(strings.TrimPrefix(plain.URL, "http://")))
	if err != nil {
		t.Fatal(err)
	}
	for _, call := range []func() error{
		func() error { _, err := c.Version(ctxT(t, 10*time.Second)); return err },
		func() error {
			_, err := c.Batches.Create(ctxT(t, 10*time.Second), &livyclient.CreateBatchRequest{File: "/x.py"})
			return err
		},
	} {
		err := call()
		if !errors.Is(err, livyclient.ErrUntrustedRedirect) || !strings.Contains(err.Error(), "from https to http") {
			t.Fatalf("https→http redirect: %v", err)
		}
	}
	if n := plainHits.Load(); n != 0 {
		t.Fatalf("the plain server got %d requests", n)
	}
}

func TestCAFileErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("-----BEGIN NOTHING-----\nAAAA\n-----END NOTHING-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{missing, "no such file"},
		{empty, "holds no PEM certificate"},
	} {
		_, err := livyclient.New(livyclient.WithEndpoints("https://127.0.0.1:1"), livyclient.WithCAFile(tc.path))
		if !errors.Is(err, livyclient.ErrBadOption) || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("WithCAFile(%s): %v", tc.path, err)
		}
	}
	if _, err := livyclient.New(livyclient.WithEndpoints("https://127.0.0.1:1"), livyclient.WithTLSConfig(nil)); !errors.Is(err, livyclient.ErrBadOption) {
		t.Errorf("WithTLSConfig(nil): %v", err)
	}
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// How WithTLSConfig and WithCAFile combine with WithHTTPClient: applied to
// a clone of an *http.Transport (the caller's is not modified; its own
// RootCAs are kept, the CA file's added), a clear error for a transport of
// another type or for TLS settings in two places.
func TestTLSOptionsWithHTTPClient(t *testing.T) {
	b := tlstest.New(t, "livy CA")
	other := tlstest.New(t, "another CA")
	srv, _ := tlsServer(t, b, versionOK)
	version := func(opts ...livyclient.Option) error {
		c, err := livyclient.New(append([]livyclient.Option{livyclient.WithEndpoints(srv.URL)}, opts...)...)
		if err != nil {
			return err
		}
		_, err = c.Version(ctxT(t, 10*time.Second))
		return err
	}

	// WithTLSConfig alone; the caller's config is not modified.
	cfg := &tls.Config{RootCAs: b.CA.Pool()}
	if err := version(livyclient.WithTLSConfig(cfg)); err != nil {
		t.Fatalf("WithTLSConfig: %v", err)
	}
	// WithCAFile adds to WithTLSConfig's RootCAs.
	if err := version(livyclient.WithTLSConfig(&tls.Config{RootCAs: other.CA.Pool()}), livyclient.WithCAFile(b.CAFile)); err != nil {
		t.Fatalf("WithTLSConfig(other CA) + WithCAFile: %v", err)
	}
	// Several CA files: all trusted.
	if err := version(livyclient.WithCAFile(other.CAFile), livyclient.WithCAFile(b.CAFile)); err != nil {
		t.Fatalf("two CA files: %v", err)
	}

	// WithHTTPClient with a plain *http.Transport and WithCAFile: works on
	// a clone; the caller's transport still has no TLS config.
	tr := &http.Transport{}
	if err := version(livyclient.WithHTTPClient(&http.Client{Transport: tr, Timeout: 5 * time.Second}), livyclient.WithCAFile(b.CAFile)); err != nil {
		t.Fatalf("WithHTTPClient + WithCAFile: %v", err)
	}
	if tr.TLSClientConfig != nil && tr.TLSClientConfig.RootCAs != nil {
		t.Fatal("the caller's transport got the CA") // (http.Transport.Clone itself may set its HTTP/2 defaults)
	}
	// Its own TLS config, RootCAs of another CA, plus WithCAFile: both kept.
	pool := other.CA.Pool()
	tr2 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	if err := version(livyclient.WithHTTPClient(&http.Client{Transport: tr2}), livyclient.WithCAFile(b.CAFile)); err != nil {
		t.Fatalf("WithHTTPClient(own RootCAs) + WithCAFile: %v", err)
	}
	if tr2.TLSClientConfig.RootCAs != pool {
		t.Fatal("the caller's RootCAs were replaced")
	}
	// Its own TLS config alone still works, as before these options.
	tr3 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: b.CA.Pool()}}
	if err := version(livyclient.WithHTTPClient(&http.Client{Transport: tr3})); err != nil {
		t.Fatalf("WithHTTPClient with its own TLS config: %v", err)
	}
	// ... and a wrong one gives the clear error too.
	tr4 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: other.CA.Pool()}}
	if err := version(livyclient.WithHTTPClient(&http.Client{Transport: tr4})); !errors.Is(err, livyclient.ErrUntrustedCertificate) {
		t.Fatalf("WithHTTPClient with the wrong CA: %v", err)
	}

	// WithTLSConfig replaces the TLS config of WithHTTPClient's transport.
	if err := version(livyclient.WithHTTPClient(&http.Client{Transport: tr4}), livyclient.WithTLSConfig(cfg)); err != nil {
		t.Fatalf("WithHTTPClient(wrong CA) + WithTLSConfig: %v", err)
	}
	if tr4.TLSClientConfig.RootCAs == cfg.RootCAs {
		t.Fatal("the caller's transport was modified")
	}

	// A transport that is not an *http.Transport: a clear error.
	custom := rtFunc(func(r *http.Request) (*http.Response, error) { return http.DefaultTransport.RoundTrip(r) })
	err := version(livyclient.WithHTTPClient(&http.Client{Transport: custom}), livyclient.WithCAFile(b.CAFile))
	if !errors.Is(err, livyclient.ErrBadOption) || !strings.Contains(err.Error(), "*http.Transport") {
		t.Fatalf("custom RoundTripper + WithCAFile: %v", err)
	}
}

// A TLS option error after WithTarget started its resolver closes it: no
// ZooKeeper connection loop is left behind.
func TestTLSOptionErrorClosesResolver(t *testing.T) {
	testutil.NoLeaks(t)
	b := tlstest.New(t, "livy CA")
	custom := rtFunc(func(r *http.Request) (*http.Response, error) { return http.DefaultTransport.RoundTrip(r) })
	_, err := livyclient.New(livyclient.WithTarget("127.0.0.1:1"), livyclient.WithHTTPClient(&http.Client{Transport: custom}),
		livyclient.WithCAFile(b.CAFile))
	if !errors.Is(err, livyclient.ErrBadOption) {
		t.Fatalf("New: %v", err)
	}
}

// livytest's TLS settings: Config.TLSConfig serves https too (a
// standalone server here, with the stock profile's REST surface as well);
// missing or broken settings are errors at Start, and the pr212 profile
// refuses TLS rather than serve plain http.
func TestLivytestTLSConfig(t *testing.T) {
	b := tlstest.New(t, "livy CA")
	for _, prof := range []livytest.Profile{livytest.ProfileLivyHA, livytest.ProfileStock} {
		s := livytest.NewServer(t, livytest.Config{TLSConfig: b.Leaf.ServerConfig(), Profile: prof})
		if !strings.HasPrefix(s.URL(), "https://") {
			t.Fatalf("%s: URL %s", prof, s.URL())
		}
		c, err := livyclient.New(livyclient.WithEndpoints(s.URL()), livyclient.WithTLSConfig(b.ClientConfig()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Version(ctxT(t, 10*time.Second)); err != nil {
			t.Fatalf("%s: Version over https: %v", prof, err)
		}
		// Livy's root redirect keeps the scheme it was asked on.
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: b.ClientConfig()},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := hc.Get(s.URL() + "/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if loc := res.Header.Get("Location"); res.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "https://") {
			t.Fatalf("%s: GET / = %d Location %q, want 302 to https", prof, res.StatusCode, loc)
		}
	}
	for _, tc := range []struct {
		cfg  livytest.Config
		want string
	}{
		{livytest.Config{TLSCert: b.CertFile}, "both TLSCert and TLSKey"},
		{livytest.Config{TLSCert: b.KeyFile, TLSKey: b.CertFile}, b.KeyFile},
		{livytest.Config{TLSConfig: &tls.Config{}}, "no certificate"},
		{livytest.Config{TLSCert: b.CertFile, TLSKey: b.KeyFile, Profile: livytest.ProfilePR212}, "not supported in the pr212 profile"},
	} {
		s, err := livytest.Start(ctxT(t, 10*time.Second), tc.cfg)
		if err == nil {
			s.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("Start(%+v): %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
