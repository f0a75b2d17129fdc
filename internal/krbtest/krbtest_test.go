package krbtest_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livyha/livyha/internal/krbtest"
)

var seq atomic.Int64

func TestMain(m *testing.M) {
	code := m.Run()
	krbtest.StopShared()
	os.Exit(code)
}

// kvno asks the KDC for a service ticket with MIT's own tools.
func kvno(t *testing.T, k *krbtest.KDC, ccache, spn string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kvno", spn)
	cmd.Env = k.Env(ccache)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestKDCUsersServicesAndKinit(t *testing.T) {
	k := krbtest.Start(t)
	if k.Realm() != krbtest.DefaultRealm {
		t.Fatalf("realm %q", k.Realm())
	}
	conf, err := os.ReadFile(k.Krb5Conf())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dns_lookup_kdc = false", "rdns = false", "dns_canonicalize_hostname = false",
		"udp_preference_limit = 1", "kdc = " + k.Addr()} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("krb5.conf lacks %q:\n%s", want, conf)
		}
	}
	if host, _, _ := net.SplitHostPort(k.Addr()); host != "127.0.0.1" {
		t.Fatalf("KDC address %s is not loopback", k.Addr())
	}
	if err := k.AddUser("alice", "alice-pw"); err != nil {
		t.Fatal(err)
	}
	// kadmin.local exits 0 when a query fails; the error must still show.
	if err := k.AddUser("alice", "again"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate AddUser: %v", err)
	}
	kt, err := k.AddService("HTTP/127.0.0.21")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(kt); err != nil || fi.Size() == 0 {
		t.Fatalf("keytab %s: %v", kt, err)
	}
	if _, err := k.Keytab("HTTP/no.such.host"); err == nil {
		t.Fatal("keytab for an unknown principal exported")
	}

	cc, err := k.Kinit("alice", "alice-pw")
	if err != nil {
		t.Fatal(err)
	}
	// MIT's kvno gets a service ticket over TCP from the KDC with that cache.
	if out, err := kvno(t, k, cc, "HTTP/127.0.0.21"); err != nil || !strings.Contains(out, "kvno =") {
		t.Fatalf("kvno: %v: %s", err, out)
	}
	if out, err := kvno(t, k, cc, "HTTP/127.0.0.99"); err == nil {
		t.Fatalf("kvno for an unknown service succeeded: %s", out)
	}
	if _, err := k.Kinit("alice", "wrong"); err == nil || !strings.Contains(err.Error(), "incorrect") {
		t.Fatalf("kinit with a wrong password: %v", err)
	}
	if strings.Contains(k.Log(), "alice-pw") {
		t.Fatal("password in the KDC log")
	}
	if !strings.Contains(k.Log(), "alice@"+k.Realm()) {
		t.Fatalf("KDC log does not show alice's requests:\n%s", k.Log())
	}
}

func TestCloseStopsTheKDC(t *testing.T) {
	k, err := krbtest.StartKDC(context.Background(), krbtest.Config{Realm: "OTHER.TEST"})
	if err != nil {
		krbtest.SkipOrFatal(t, err)
	}
	dir, addr := k.Dir(), k.Addr()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
		t.Fatalf("KDC not listening: %v", err)
	} else {
		c.Close()
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("directory %s left behind: %v", dir, err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("KDC still listening after Close")
	}
}

func TestShared(t *testing.T) {
	a, b := krbtest.Shared(t), krbtest.Shared(t)
	if a != b {
		t.Fatal("Shared returned two KDCs")
	}
	user := fmt.Sprintf("shared-%d", seq.Add(1)) // the KDC outlives -count runs
	if err := a.AddUser(user, "pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Kinit(user, "pw", "-l", "1m"); err != nil {
		t.Fatal(err)
	}
}

func TestBadNames(t *testing.T) {
	k := krbtest.Shared(t)
	for _, n := range []string{"", "a b", "x;y", "HTTP/h@lower.realm"} {
		if err := k.AddUser(n, "pw"); err == nil {
			t.Errorf("AddUser(%q) accepted", n)
		}
	}
	if err := k.AddUser("q", `with"quote`); err == nil {
		t.Error("password with a quote accepted")
	}
}

// A KDC with a skewed clock refuses a client's pre-authentication.
func TestClockOffset(t *testing.T) {
	k, err := krbtest.StartKDC(context.Background(), krbtest.Config{Dir: t.TempDir(), ClockOffset: -10 * time.Minute})
	if err != nil {
		krbtest.SkipOrFatal(t, err)
	}
	defer k.Close()
	if err := k.AddUser("carol", "carol-pw"); err != nil {
		t.Fatal(err)
	}
	// MIT's kinit adopts the KDC's time (kdc_timesync, on by default)...
	if _, err := k.Kinit("carol", "carol-pw"); err != nil {
		t.Fatalf("kinit with kdc_timesync: %v", err)
	}
	// ...and without it fails as every client that trusts its own clock
	// (gokrb5, Java) does.
	conf, err := os.ReadFile(k.Krb5Conf())
	if err != nil {
		t.Fatal(err)
	}
	noSync := k.Dir() + "/krb5-nosync.conf"
	if err := os.WriteFile(noSync, []byte(strings.Replace(string(conf), "[libdefaults]", "[libdefaults]\n\tkdc_timesync = 0", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kinit", "-c", k.Dir()+"/carol-cc", k.Principal("carol"))
	cmd.Env = append(k.Env(""), "KRB5_CONFIG="+noSync)
	cmd.Stdin = strings.NewReader("carol-pw\n")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "Clock skew too great") {
		t.Fatalf("kinit without kdc_timesync against a KDC 10 minutes behind: %v: %s", err, out)
	}
}

func TestKinitCacheReplacesTheCache(t *testing.T) {
	k := krbtest.Shared(t)
	user := fmt.Sprintf("dave-%d", seq.Add(1))
	if err := k.AddUser(user, "dave-pw"); err != nil {
		t.Fatal(err)
	}
	cc := filepath.Join(t.TempDir(), "cc")
	for range 2 {
		if err := k.KinitCache(cc, user, "dave-pw", "-l", "1h"); err != nil {
			t.Fatal(err)
		}
		if out, err := kvno(t, k, cc, "krbtgt/"+k.Realm()); err != nil {
			t.Fatalf("kvno with %s: %v: %s", cc, err, out)
		}
	}
}
