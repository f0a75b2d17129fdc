package discovery

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestStaticLocationNotEchoed(t *testing.T) {
	for _, loc := range []string{
		"http://s3cr3t-token@evil.example:1/version",  // userinfo without password
		"ftp://h:1/version?access_token=s3cr3t-token", // not http(s)
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", loc)
			w.WriteHeader(http.StatusTemporaryRedirect)
		}))
		ep, err := staticEndpointFor(srv.URL, 0)
		if err != nil {
			t.Fatal(err)
		}
		s, err := newStaticSource([]string{srv.URL}, config{log: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		ss := s.(*staticSource)
		r := ss.probe(ss.ctx, ep)
		t.Logf("Location %q -> problem %q", loc, r.problem)
		if strings.Contains(r.problem, "s3cr3t") {
			t.Errorf("problem echoes the Location's secret: %q", r.problem)
		}
		srv.Close()
	}
}

func TestTargetErrorsWrapErrBadTarget(t *testing.T) {
	for _, s := range []string{"", "zk://", "h:99999", "zk://h:1,,h2", "livy-conf:///etc/livy.conf?zk=h:0"} {
		_, err := ParseTarget(s)
		if err == nil {
			t.Errorf("%q: no error", s)
			continue
		}
		if !errors.Is(err, ErrBadTarget) {
			t.Errorf("%q: %v does not wrap ErrBadTarget", s, err)
		}
	}
}
