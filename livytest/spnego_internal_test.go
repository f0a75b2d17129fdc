package livytest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/livyha/livyha/internal/krbtest"
	"github.com/livyha/livyha/internal/testutil"
)

// The AP-REP livytest answers with is what lets requests_kerberos's
// mutual authentication pass (TestSPNEGORealClients): an AP-REP that does
// not match the client's authenticator makes the same client fail, so the
// check is real and livytest's answer is right.
func TestSPNEGOMutualAuthenticationIsChecked(t *testing.T) {
	py := testutil.NeedTool(t, "/usr/bin/python3", "-c", "import requests, requests_kerberos")
	k := krbtest.Start(t)
	kt, err := k.AddService("HTTP/127.0.0.21")
	if err != nil {
		t.Fatal(err)
	}
	if err := k.AddUser("bob", "bob-pw"); err != nil {
		t.Fatal(err)
	}
	cc, err := k.Kinit("bob", "bob-pw")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		skew  int // added to the authenticator's microseconds before answering
		works bool
	}{{"matching AP-REP", 0, true}, {"AP-REP for another authenticator", 1, false}} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.21:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b64, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Negotiate ")
				if !ok {
					w.Header().Set("WWW-Authenticate", "Negotiate")
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				v, err := verifyNegotiate(kt, k.Principal("HTTP/127.0.0.21"), b64, r.RemoteAddr)
				if err != nil {
					http.Error(w, err.Error(), http.StatusForbidden)
					return
				}
				if !mutualRequested(v.req) {
					http.Error(w, "no mutual authentication requested", http.StatusBadRequest)
					return
				}
				v.req.Authenticator.Cusec += tc.skew
				reply, err := v.answer()
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				w.Header().Set("WWW-Authenticate", "Negotiate "+reply)
				_, _ = w.Write([]byte("ok"))
			}))
			srv.Listener = ln
			srv.Start()
			defer srv.Close()

			const script = `import sys, requests
from requests_kerberos import HTTPKerberosAuth, REQUIRED
from requests_kerberos.exceptions import MutualAuthenticationError
try:
    r = requests.get(sys.argv[1], auth=HTTPKerberosAuth(mutual_authentication=REQUIRED), timeout=20)
    print(r.status_code, r.text)
except MutualAuthenticationError:
    print("mutual authentication failed")`
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, py, "-c", script, srv.URL)
			cmd.Env = k.Env(cc)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("python: %v", err)
			}
			got := strings.TrimSpace(string(out))
			if want := map[bool]string{true: "200 ok", false: "mutual authentication failed"}[tc.works]; got != want {
				t.Fatalf("python printed %q, want %q", got, want)
			}
		})
	}
}
