// Package krbtest runs a real MIT Kerberos KDC (krb5kdc) as a child
// process on a free loopback port, with its database, stash, keytabs and
// credential caches in a temporary directory, for tests of SPNEGO clients
// and servers.
//
// It needs the Debian packages krb5-kdc (krb5kdc, kdb5_util),
// krb5-admin-server (kadmin.local) and krb5-user (kinit). When they are
// missing StartKDC returns an error wrapping ErrUnavailable and the test
// helpers Start and Shared skip the test — unless the environment has
// CI=true, in which case they fail it.
//
// Nothing is read from or written to /etc: the KDC reads the kdc.conf
// named by KRB5_KDC_PROFILE and the krb5.conf named by KRB5_CONFIG, both
// in the temporary directory, and so do the kadmin.local and kinit it
// runs. Krb5Conf returns that krb5.conf (DNS lookups and reverse DNS off,
// TCP preferred) for the clients under test: pass it to them, and Env to
// child processes such as curl.
//
// The KDC runs in the foreground (krb5kdc -n) in its own process group
// with SIGKILL as parent-death signal, so a crashed test binary leaves no
// KDC behind.
package krbtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/livyha/livyha/internal/zktest"
)

// DefaultRealm is the realm of a KDC started without Config.Realm.
const DefaultRealm = "LIVYHA.TEST"

const (
	startTimeout   = 10 * time.Second
	commandTimeout = 20 * time.Second
	stopTimeout    = 5 * time.Second
	startAttempts  = 3
	masterPassword = "krbtest-master" // of a throwaway database
)

// ErrUnavailable is returned (wrapped) when the MIT Kerberos programs are
// missing, so tests can skip instead of failing.
var ErrUnavailable = errors.New("krbtest: MIT Kerberos unavailable (need krb5kdc, kdb5_util, kadmin.local and kinit)")

// Config configures StartKDC. The zero value is valid.
type Config struct {
	// Realm is the realm name (default DefaultRealm).
	Realm string
	// Dir is the directory for the database, configuration, keytabs and
	// caches; default: a new temporary directory, removed by Close.
	Dir string
	// Logf, if set, receives progress messages (never passwords).
	Logf func(format string, args ...any)
	// ClockOffset, if not zero, runs the KDC with its clock that far off
	// (rounded to seconds; negative: behind), through libfaketime (Debian
	// package faketime; without it StartKDC fails with ErrUnavailable): a
	// KDC whose clock is skewed from its clients'. kadmin.local and kinit
	// run with the real clock.
	ClockOffset time.Duration
}

// libfaketime is where Debian's faketime package installs the library.
var libfaketime = []string{
	"/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
	"/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
	"/usr/lib/faketime/libfaketime.so.1",
}

func findLibfaketime() (string, error) {
	for _, p := range libfaketime {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: Config.ClockOffset needs libfaketime (apt-get install faketime)", ErrUnavailable)
}

// KDC is a running MIT Kerberos KDC.
type KDC struct {
	realm    string
	dir      string
	ownDir   bool
	addr     string
	kdcConf  string
	krb5Conf string
	logFile  string
	tools    tools
	fakeEnv  []string // LD_PRELOAD and FAKETIME for krb5kdc, with Config.ClockOffset
	proc     *zktest.Proc
	logf     func(string, ...any)

	admin sync.Mutex // kadmin.local calls are serialised (one database lock)
	seq   atomic.Int64

	closeOnce sync.Once
	closeErr  error
}

type tools struct{ krb5kdc, kdb5util, kadmin, kinit string }

// lookTool finds a program on PATH or in the directories Debian installs
// it to (/usr/sbin is not on every user's PATH).
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %s not found (apt-get install krb5-kdc krb5-admin-server krb5-user)", ErrUnavailable, name)
}

func findTools() (tools, error) {
	var t tools
	var err error
	for _, x := range []struct {
		dst  *string
		name string
	}{{&t.krb5kdc, "krb5kdc"}, {&t.kdb5util, "kdb5_util"}, {&t.kadmin, "kadmin.local"}, {&t.kinit, "kinit"}} {
		if *x.dst, err = lookTool(x.name); err != nil {
			return t, err
		}
	}
	return t, nil
}

var realmRE = regexp.MustCompile(`^[A-Z0-9][A-Z0-9.-]*$`)

// StartKDC creates a realm database in a temporary directory and starts
// krb5kdc on a free loopback port (UDP and TCP). It returns once the KDC
// serves, or fails when ctx ends first (at most 10s per attempt).
func StartKDC(ctx context.Context, cfg Config) (*KDC, error) {
	tl, err := findTools()
	if err != nil {
		return nil, err
	}
	if cfg.Realm == "" {
		cfg.Realm = DefaultRealm
	}
	if !realmRE.MatchString(cfg.Realm) {
		return nil, fmt.Errorf("krbtest: bad realm %q (use upper case letters, digits, dots)", cfg.Realm)
	}
	k := &KDC{realm: cfg.Realm, dir: cfg.Dir, tools: tl, logf: cfg.Logf}
	if k.logf == nil {
		k.logf = func(string, ...any) {}
	}
	if secs := int64(cfg.ClockOffset.Round(time.Second) / time.Second); secs != 0 {
		lib, err := findLibfaketime()
		if err != nil {
			return nil, err
		}
		k.fakeEnv = []string{"LD_PRELOAD=" + lib, fmt.Sprintf("FAKETIME=%+d", secs)}
	}
	if k.dir == "" {
		if k.dir, err = os.MkdirTemp("", "krbtest-"); err != nil {
			return nil, fmt.Errorf("krbtest: %w", err)
		}
		k.ownDir = true
	} else if err := os.MkdirAll(k.dir, 0o700); err != nil {
		return nil, fmt.Errorf("krbtest: %w", err)
	}
	k.kdcConf = filepath.Join(k.dir, "kdc.conf")
	k.krb5Conf = filepath.Join(k.dir, "krb5.conf")
	k.logFile = filepath.Join(k.dir, "kdc.log")
	fail := func(err error) (*KDC, error) {
		if k.ownDir {
			_ = os.RemoveAll(k.dir)
		}
		return nil, err
	}
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		if ctx.Err() != nil {
			break
		}
		port, err := freePort()
		if err != nil {
			return fail(fmt.Errorf("krbtest: %w", err))
		}
		k.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := k.writeConfig(); err != nil {
			return fail(err)
		}
		if attempt == 1 {
			if _, err := k.run(ctx, "", tl.kdb5util, "create", "-s", "-r", k.realm, "-P", masterPassword); err != nil {
				return fail(fmt.Errorf("krbtest: creating the realm database: %w", err))
			}
		}
		if lastErr = k.startProcess(ctx); lastErr == nil {
			k.logf("krbtest: KDC for %s listening on %s (dir %s)", k.realm, k.addr, k.dir)
			return k, nil
		}
		k.logf("krbtest: KDC start attempt %d: %v", attempt, lastErr)
	}
	if lastErr == nil {
		lastErr = ctx.Err()
	}
	return fail(fmt.Errorf("krbtest: starting krb5kdc: %w", lastErr))
}

// freePort returns a loopback port that is free for both TCP and UDP at
// the time of the call.
func freePort() (int, error) {
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, uerr := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		_ = ln.Close()
		if uerr == nil {
			_ = pc.Close()
			return port, nil
		}
	}
	return 0, errors.New("no loopback port free for both TCP and UDP")
}

func (k *KDC) writeConfig() error {
	kdc := fmt.Sprintf(`[kdcdefaults]
	kdc_listen = %[1]s
	kdc_tcp_listen = %[1]s

[realms]
	%[2]s = {
		database_name = %[3]s
		key_stash_file = %[4]s
		acl_file = %[5]s
		max_life = 10h
		max_renewable_life = 7d
		default_principal_flags = +preauth
	}

[logging]
	kdc = FILE:%[6]s
	admin_server = FILE:%[7]s
	default = FILE:%[7]s
`, k.addr, k.realm, filepath.Join(k.dir, "principal"), filepath.Join(k.dir, "stash"),
		filepath.Join(k.dir, "kadm5.acl"), k.logFile, filepath.Join(k.dir, "kadmin.log"))
	krb5 := fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_kdc = false
	dns_lookup_realm = false
	rdns = false
	dns_canonicalize_hostname = false
	udp_preference_limit = 1

[realms]
	%[1]s = {
		kdc = %[2]s
	}
`, k.realm, k.addr)
	if err := os.WriteFile(k.kdcConf, []byte(kdc), 0o600); err != nil {
		return fmt.Errorf("krbtest: %w", err)
	}
	if err := os.WriteFile(k.krb5Conf, []byte(krb5), 0o644); err != nil {
		return fmt.Errorf("krbtest: %w", err)
	}
	return nil
}

// startProcess starts krb5kdc -n and waits until its log says it serves.
func (k *KDC) startProcess(ctx context.Context) error {
	before := logSize(k.logFile)
	cmd := exec.Command(k.tools.krb5kdc, "-n", "-r", k.realm)
	cmd.Env = append(k.env(""), k.fakeEnv...)
	cmd.Dir = k.dir
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	p, err := zktest.StartProc(cmd)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if up, failed := k.logSays(before); up {
			k.proc = p
			return nil
		} else if failed != "" {
			p.Signal(syscall.SIGKILL, stopTimeout)
			return errors.New(failed)
		}
		select {
		case <-p.Exited():
			return fmt.Errorf("krb5kdc exited: %s %s", strings.TrimSpace(stderr.String()), k.logTail(before))
		case <-ctx.Done():
			p.Signal(syscall.SIGKILL, stopTimeout)
			return fmt.Errorf("krb5kdc did not start: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

func logSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logSays reads the KDC log written since offset: up once it says
// "commencing operation", failed with a reason when it could not bind.
func (k *KDC) logSays(offset int64) (up bool, failed string) {
	tail := k.logTail(offset)
	sc := bufio.NewScanner(strings.NewReader(tail))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, "commencing operation"):
			return true, ""
		case strings.Contains(line, "Cannot bind") || strings.Contains(line, "Address already in use"):
			return false, line
		}
	}
	return false, ""
}

func (k *KDC) logTail(offset int64) string {
	b, err := os.ReadFile(k.logFile)
	if err != nil || int64(len(b)) < offset {
		return ""
	}
	return string(b[offset:])
}

// env returns the environment of the Kerberos programs krbtest runs:
// the inherited one without Kerberos variables, plus this KDC's
// configuration and, if ccache is not empty, KRB5CCNAME.
func (k *KDC) env(ccache string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KRB5") {
			continue
		}
		out = append(out, kv)
	}
	out = append(out, "KRB5_CONFIG="+k.krb5Conf, "KRB5_KDC_PROFILE="+k.kdcConf)
	if ccache != "" {
		out = append(out, "KRB5CCNAME=FILE:"+ccache)
	}
	return out
}

// run runs a Kerberos program with stdin and returns its stdout. MIT's
// kadmin.local exits 0 even when a query fails, so any line on stderr
// other than its "No policy specified" notice is an error.
func (k *KDC) run(ctx context.Context, stdin string, prog string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = k.env("")
	cmd.Dir = k.dir
	cmd.SysProcAttr = zktest.ProcAttr()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var bad []string
	for _, line := range strings.Split(stderr.String(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "No policy specified") {
			continue
		}
		bad = append(bad, line)
	}
	if err != nil || len(bad) > 0 {
		// args may hold a password (addprinc -pw): name the program only.
		return stdout.String(), fmt.Errorf("%s: %v: %s", filepath.Base(prog), err, strings.Join(bad, "; "))
	}
	return stdout.String(), nil
}

// Kadmin runs one kadmin.local query (e.g. `modprinc -maxlife "5 seconds"
// alice`) against the realm database and returns its output. The query
// is not logged.
func (k *KDC) Kadmin(query string) (string, error) {
	k.admin.Lock()
	defer k.admin.Unlock()
	return k.run(context.Background(), "", k.tools.kadmin, "-r", k.realm, "-q", query)
}

// Realm returns the realm name.
func (k *KDC) Realm() string { return k.realm }

// Addr returns the KDC's address, "127.0.0.1:port" (UDP and TCP).
func (k *KDC) Addr() string { return k.addr }

// Dir returns the directory holding the database, configuration files,
// keytabs and credential caches.
func (k *KDC) Dir() string { return k.dir }

// Krb5Conf returns the path of a krb5.conf for clients of this KDC:
// default_realm is the realm, its only KDC is Addr (over TCP:
// udp_preference_limit = 1), and DNS is never used to find KDCs or to
// canonicalise host names.
func (k *KDC) Krb5Conf() string { return k.krb5Conf }

// Env returns an environment for child processes (curl, python, kinit)
// that use this KDC: the current environment without KRB5* variables,
// plus KRB5_CONFIG and, if ccache is not empty, KRB5CCNAME=FILE:<ccache>.
func (k *KDC) Env(ccache string) []string {
	env := k.env(ccache)
	out := env[:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "KRB5_KDC_PROFILE=") {
			out = append(out, kv)
		}
	}
	return out
}

// Principal qualifies name with the realm unless it has one.
func (k *KDC) Principal(name string) string {
	if strings.Contains(name, "@") {
		return name
	}
	return name + "@" + k.realm
}

// AddUser creates a user principal (e.g. "alice") with a password.
func (k *KDC) AddUser(name, password string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if strings.ContainsAny(password, "\"\n") {
		return errors.New("krbtest: password must not contain quotes or newlines")
	}
	_, err := k.Kadmin(fmt.Sprintf(`addprinc -pw "%s" %s`, password, k.Principal(name)))
	if err != nil {
		return fmt.Errorf("krbtest: adding %s: %w", name, err)
	}
	return nil
}

// AddService creates a service principal (e.g. "HTTP/127.0.0.21") with a
// random key and exports it to a new keytab, whose path it returns.
func (k *KDC) AddService(principal string) (string, error) {
	if err := checkName(principal); err != nil {
		return "", err
	}
	if _, err := k.Kadmin("addprinc -randkey " + k.Principal(principal)); err != nil {
		return "", fmt.Errorf("krbtest: adding %s: %w", principal, err)
	}
	return k.export(principal, false)
}

// Keytab exports the current keys of existing principals to a new keytab
// without changing them (ktadd -norandkey), e.g. a user's keytab after
// AddUser, and returns its path.
func (k *KDC) Keytab(principals ...string) (string, error) {
	if len(principals) == 0 {
		return "", errors.New("krbtest: Keytab needs a principal")
	}
	for _, p := range principals {
		if err := checkName(p); err != nil {
			return "", err
		}
	}
	return k.export(strings.Join(principals, " "), true)
}

func (k *KDC) export(principals string, norandkey bool) (string, error) {
	path := filepath.Join(k.dir, fmt.Sprintf("%s-%d.keytab", fileSafe(principals), k.seq.Add(1)))
	q := "ktadd -k " + path
	if norandkey {
		q += " -norandkey"
	}
	var full []string
	for _, p := range strings.Fields(principals) {
		full = append(full, k.Principal(p))
	}
	if _, err := k.Kadmin(q + " " + strings.Join(full, " ")); err != nil {
		return "", fmt.Errorf("krbtest: exporting a keytab for %s: %w", principals, err)
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("krbtest: exporting a keytab for %s: %w", principals, err)
	}
	return path, nil
}

// Kinit runs MIT kinit for user with password (on stdin) into a new file
// credential cache and returns its path (use it as KRB5CCNAME, with or
// without the FILE: prefix). Extra arguments go to kinit before the
// principal, e.g. "-l", "3s" for a short-lived ticket.
func (k *KDC) Kinit(user, password string, args ...string) (string, error) {
	if err := checkName(user); err != nil {
		return "", err
	}
	ccache := filepath.Join(k.dir, fmt.Sprintf("cc-%s-%d", fileSafe(user), k.seq.Add(1)))
	return ccache, k.KinitCache(ccache, user, password, args...)
}

// KinitCache is Kinit into the credential cache file ccache, which it
// replaces (as kinit run again by a user does).
func (k *KDC) KinitCache(ccache, user, password string, args ...string) error {
	if err := checkName(user); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.tools.kinit, append(append([]string{}, args...), k.Principal(user))...)
	cmd.Env = k.env(ccache)
	cmd.SysProcAttr = zktest.ProcAttr()
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("krbtest: kinit %s: %v: %s", user, err, strings.TrimSpace(strings.ReplaceAll(string(out), "Password for "+k.Principal(user)+": ", "")))
	}
	return nil
}

// Log returns what the KDC logged so far (requests, errors; never keys).
func (k *KDC) Log() string { return k.logTail(0) }

// Close stops the KDC and, if StartKDC created the directory, removes it.
// It is idempotent.
func (k *KDC) Close() error {
	k.closeOnce.Do(func() {
		if k.proc != nil {
			k.proc.Signal(syscall.SIGTERM, stopTimeout)
		}
		if k.ownDir {
			k.closeErr = os.RemoveAll(k.dir)
		}
	})
	return k.closeErr
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._/-]+(@[A-Z0-9.-]+)?$`)

func checkName(n string) error {
	if !nameRE.MatchString(n) {
		return fmt.Errorf("krbtest: bad principal name %q", n)
	}
	return nil
}

func fileSafe(s string) string {
	return strings.NewReplacer("/", "_", "@", "_", " ", "+").Replace(s)
}
