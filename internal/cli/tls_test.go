package cli

import (
	"crypto/x509"
	"flag"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livyha/livyha/internal/tlstest"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func parseTLS(t *testing.T, rest bool, args ...string) *TLSFlags {
	t.Helper()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := NewTLSFlags(fs, rest)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestTLSFlagsZooKeeper(t *testing.T) {
	b := tlstest.New(t, "cli CA")
	other := tlstest.New(t, "other CA")
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, c := range []struct {
		name     string
		args     []string
		env      map[string]string
		tls      bool
		roots    bool   // RootCAs set
		caOf     string // which CA the roots hold: the CA file's path
		errWants []string
	}{
		{name: "nothing"},
		{name: "--zk-tls", args: []string{"--zk-tls"}, tls: true},
		{name: "env true", env: map[string]string{EnvZKTLS: "true"}, tls: true},
		{name: "env 1", env: map[string]string{EnvZKTLS: "1"}, tls: true},
		{name: "flag false over env", args: []string{"--zk-tls=false"}, env: map[string]string{EnvZKTLS: "true"}},
		{name: "env bogus", env: map[string]string{EnvZKTLS: "maybe"}, errWants: []string{EnvZKTLS, "true or false"}},
		{name: "--zk-ca-file implies TLS", args: []string{"--zk-ca-file", b.CAFile}, tls: true, roots: true, caOf: b.CAFile},
		{name: "env CA file", env: map[string]string{EnvZKCAFile: b.CAFile}, tls: true, roots: true, caOf: b.CAFile},
		{name: "flag over env", args: []string{"--zk-ca-file", b.CAFile}, env: map[string]string{EnvZKCAFile: other.CAFile},
			tls: true, roots: true, caOf: b.CAFile},
		{name: "missing file", args: []string{"--zk-ca-file", missing}, errWants: []string{"--zk-ca-file", missing}},
		{name: "not PEM (env)", env: map[string]string{EnvZKCAFile: notPEM}, errWants: []string{"$" + EnvZKCAFile, notPEM, "no PEM certificate"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := parseTLS(t, false, c.args...)
			tc, err := f.ZKTLS(envOf(c.env))
			if c.errWants != nil {
				if err == nil || ExitCode(err) != ExitUsage {
					t.Fatalf("err = %v, want a usage error", err)
				}
				for _, w := range c.errWants {
					if !strings.Contains(err.Error(), w) {
						t.Fatalf("err %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (tc != nil) != c.tls || (tc != nil && (tc.RootCAs != nil) != c.roots) {
				t.Fatalf("config %+v, want tls=%v roots=%v", tc, c.tls, c.roots)
			}
			opts, _ := f.ZKOptions(envOf(c.env))
			if len(opts) != map[bool]int{true: 1}[c.tls] {
				t.Fatalf("%d options", len(opts))
			}
			if c.caOf != "" {
				want := map[string]*tlstest.Bundle{b.CAFile: b, other.CAFile: other}[c.caOf]
				if _, err := want.Leaf.Cert.Verify(x509Opts(tc.RootCAs)); err != nil {
					t.Fatalf("the roots do not hold %s: %v", c.caOf, err)
				}
			}
		})
	}
}

// The REST side: --ca-file (env LIVY_CA_FILE) gives an HTTP client that
// really verifies against the CA (an https server with a private CA).
func TestTLSFlagsREST(t *testing.T) {
	b := tlstest.New(t, "cli CA")
	other := tlstest.New(t, "other CA")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	srv.TLS = b.Leaf.ServerConfig()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	get := func(hc *http.Client) error {
		resp, err := hc.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}

	// Without a CA file: no client (the caller's default applies).
	if hc, err := parseTLS(t, true).HTTPClient(envOf(nil), time.Second); hc != nil || err != nil {
		t.Fatalf("no CA file: %v, %v", hc, err)
	}
	for name, c := range map[string]struct {
		args []string
		env  map[string]string
		ok   bool
	}{
		"flag":          {args: []string{"--ca-file", b.CAFile}, ok: true},
		"env":           {env: map[string]string{EnvCAFile: b.CAFile}, ok: true},
		"flag over env": {args: []string{"--ca-file", b.CAFile}, env: map[string]string{EnvCAFile: other.CAFile}, ok: true},
		"wrong CA":      {args: []string{"--ca-file", other.CAFile}},
	} {
		f := parseTLS(t, true, c.args...)
		hc, err := f.HTTPClient(envOf(c.env), 5*time.Second)
		if err != nil || hc == nil || hc.Timeout != 5*time.Second {
			t.Fatalf("%s: %v, %v", name, hc, err)
		}
		err = get(hc)
		if (err == nil) != c.ok || (!c.ok && !strings.Contains(err.Error(), "unknown authority")) {
			t.Fatalf("%s: GET: %v", name, err)
		}
		if f.CAFile(envOf(c.env)) == "" {
			t.Fatalf("%s: CAFile empty", name)
		}
	}
	missing := filepath.Join(t.TempDir(), "nope.pem")
	_, err := parseTLS(t, true).RESTConfig(envOf(map[string]string{EnvCAFile: missing}))
	if ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "$"+EnvCAFile) {
		t.Fatalf("missing CA file: %v", err)
	}
	// A command without a REST side has no --ca-file.
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	NewTLSFlags(fs, false)
	if err := fs.Parse([]string{"--ca-file", b.CAFile}); err == nil {
		t.Fatal("--ca-file accepted without a REST side")
	}
	for _, want := range []string{"--ca-file PATH", EnvCAFile, "--zk-tls", EnvZKTLS, "--zk-ca-file PATH", EnvZKCAFile} {
		if !strings.Contains(TLSUsage(true), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
	if strings.Contains(TLSUsage(false), "--ca-file") {
		t.Error("usage without a REST side mentions --ca-file")
	}
}

func TestServerTLSFlags(t *testing.T) {
	b := tlstest.New(t, "cli CA")
	key, _ := os.ReadFile(b.KeyFile)
	parse := func(args ...string) *ServerTLSFlags {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		f := NewServerTLSFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return f
	}
	if c, k, err := parse().Files(envOf(nil)); c != "" || k != "" || err != nil {
		t.Fatalf("none: %q %q %v", c, k, err)
	}
	if c, k, err := parse("--tls-cert", b.CertFile, "--tls-key", b.KeyFile).Files(envOf(nil)); c != b.CertFile || k != b.KeyFile || err != nil {
		t.Fatalf("flags: %q %q %v", c, k, err)
	}
	if c, k, err := parse().Files(envOf(map[string]string{EnvTLSCert: b.CertFile, EnvTLSKey: b.KeyFile})); c != b.CertFile || k != b.KeyFile || err != nil {
		t.Fatalf("env: %q %q %v", c, k, err)
	}
	for name, f := range map[string]*ServerTLSFlags{
		"cert only": parse("--tls-cert", b.CertFile),
		"key only":  parse("--tls-key", b.KeyFile),
		"swapped":   parse("--tls-cert", b.KeyFile, "--tls-key", b.CertFile),
	} {
		_, _, err := f.Files(envOf(nil))
		if ExitCode(err) != ExitUsage || strings.Contains(err.Error(), strings.TrimSpace(string(key))[30:60]) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func x509Opts(roots *x509.CertPool) x509.VerifyOptions {
	return x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
}
