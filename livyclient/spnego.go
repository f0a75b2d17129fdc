package livyclient

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// ErrKerberos is matched (errors.Is) by every *KerberosError.
var ErrKerberos = errors.New("livyclient: kerberos")

// KerberosReason says why Kerberos authentication failed.
type KerberosReason int

// Reasons of a *KerberosError.
const (
	// KerberosOther: anything not listed below; the message has the details.
	KerberosOther KerberosReason = iota
	// KerberosNoCredentials: no credential cache (or no TGT in it): run kinit.
	KerberosNoCredentials
	// KerberosExpired: the TGT (or a service ticket) expired and cannot be
	// renewed from what the authenticator holds: run kinit.
	KerberosExpired
	// KerberosNoKeytabEntry: the keytab has no key for the principal.
	KerberosNoKeytabEntry
	// KerberosUnknownServer: the KDC knows no service principal
	// HTTP/<host> for the server the request was going to.
	KerberosUnknownServer
	// KerberosUnknownClient: the KDC knows no such client principal.
	KerberosUnknownClient
	// KerberosBadCredentials: the KDC rejected the password or the key
	// (a wrong password, or a keytab with a stale key version).
	KerberosBadCredentials
	// KerberosClockSkew: this host's clock and the KDC's differ by more
	// than the allowed skew.
	KerberosClockSkew
	// KerberosKDCUnreachable: no KDC of the realm answered.
	KerberosKDCUnreachable
	// KerberosConfig: krb5.conf, the keytab, the credential cache or the
	// principal name cannot be used.
	KerberosConfig
	// KerberosServerNotAuthenticated: WithMutualAuth, and the server did
	// not prove it holds the key of its service principal (no, or a
	// wrong, AP-REP in its answer's WWW-Authenticate: Negotiate).
	KerberosServerNotAuthenticated
)

var reasonNames = [...]string{"other", "no credentials", "expired", "no keytab entry", "unknown server principal",
	"unknown client principal", "bad credentials", "clock skew", "KDC unreachable", "configuration",
	"server not authenticated"}

func (r KerberosReason) String() string {
	if r >= 0 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "KerberosReason(" + strconv.Itoa(int(r)) + ")"
}

// KerberosError is returned by SPNEGO's constructors and Authenticate (and
// so, wrapped, by every request of a client using it) when no token could
// be made. Its text says what to fix. The HA transport returns it at once:
// it is the same on every server, so retrying or failing over cannot help.
type KerberosError struct {
	Reason KerberosReason
	// Principal is the client principal (user@REALM), when known.
	Principal string
	// SPN is the service principal the token was for (HTTP/host), when the
	// error is about one.
	SPN string
	// Fix says what to do, e.g. "run kinit".
	Fix string
	// Err is what gokrb5 or the file system reported. It is deliberately
	// not returned by Unwrap: a network error or io.EOF inside must not
	// make the transport treat the failure as retryable.
	Err error

	what string
}

func (e *KerberosError) Error() string {
	var b strings.Builder
	b.WriteString("livyclient: kerberos: ")
	b.WriteString(e.what)
	if e.Fix != "" {
		b.WriteString(": ")
		b.WriteString(e.Fix)
	}
	if e.Err != nil {
		b.WriteString(" (")
		b.WriteString(e.Err.Error())
		b.WriteString(")")
	}
	return b.String()
}

// Is matches ErrKerberos.
func (e *KerberosError) Is(target error) bool { return target == ErrKerberos }

// SPNEGOOption configures an SPNEGO authenticator.
type SPNEGOOption func(*spnegoOptions)

type spnegoOptions struct {
	krb5Conf string
	mutual   bool
}

// WithKrb5Conf reads the Kerberos configuration from path instead of
// $KRB5_CONFIG (or, when that is unset, /etc/krb5.conf).
func WithKrb5Conf(path string) SPNEGOOption { return func(o *spnegoOptions) { o.krb5Conf = path } }

type credKind int

const (
	fromKeytab credKind = iota
	fromCCache
	fromPassword
)

// SPNEGO is an Authenticator that sends "Authorization: Negotiate
// <token>", as Livy servers behind Hadoop's AuthenticationFilter (and
// livytest with Config.SPNEGOKeytab) require. Each call mints a fresh
// token for the hop's own service principal, HTTP/<host>, where host is
// the hostport the HA transport vetted (a cluster member or a trusted
// host), lower-cased, without its port — never the request's Host header
// or a Location it was redirected to, and never looked up in DNS (so
// register Livy servers under the host names of their principals). A
// token for one server is useless to another.
//
// Service tickets are cached per host; the TGT comes from a keytab, a
// password or a credential cache (see the constructors). Errors are
// *KerberosError. An SPNEGO is safe for concurrent use; Close it when done
// (keytab and password logins keep a renewal goroutine).
//
// Authenticate talks to the KDC when it needs a ticket; gokrb5 bounds
// each KDC exchange (5s per KDC), not the request's context.
type SPNEGO struct {
	conf      *config.Config
	confPath  string
	kind      credKind
	principal string // user@REALM
	ccPath    string

	login sync.Mutex // serialises AffirmLogin: gokrb5's Login is not safe for concurrent use

	mu     sync.RWMutex
	cl     *client.Client
	tgtEnd time.Time // fromCCache: end of the TGT loaded
	ccMod  time.Time // fromCCache: modification time of the file loaded
	closed bool

	mutual  bool       // WithMutualAuth
	pending pendingAPs // WithMutualAuth: the tokens sent, by Authorization value
}

var _ Authenticator = (*SPNEGO)(nil)

func newSPNEGO(kind credKind, opts []SPNEGOOption) (*SPNEGO, error) {
	var o spnegoOptions
	for _, f := range opts {
		f(&o)
	}
	path := o.krb5Conf
	if path == "" {
		path = os.Getenv("KRB5_CONFIG")
		if i := strings.IndexByte(path, ':'); i >= 0 { // MIT allows a list; use the first file
			path = path[:i]
		}
	}
	if path == "" {
		path = "/etc/krb5.conf"
	}
	conf, err := config.Load(path)
	var unsupported config.UnsupportedDirective
	if errors.As(err, &unsupported) && conf != nil {
		err = nil // a directive gokrb5 ignores (v4_*, include): the rest applies
	}
	if err != nil {
		return nil, &KerberosError{Reason: KerberosConfig, what: "cannot read the Kerberos configuration " + path,
			Fix: "set KRB5_CONFIG or use WithKrb5Conf", Err: err}
	}
	return &SPNEGO{conf: conf, confPath: path, kind: kind, mutual: o.mutual}, nil
}

// splitPrincipal parses "name[@REALM]" (name may be "svc/host"); the
// realm defaults to the configuration's default_realm.
func (s *SPNEGO) splitPrincipal(p string) (types.PrincipalName, string, error) {
	name, realm := p, ""
	if i := strings.LastIndexByte(p, '@'); i >= 0 {
		name, realm = p[:i], p[i+1:]
	}
	if realm == "" {
		realm = s.conf.LibDefaults.DefaultRealm
	}
	if name == "" || realm == "" {
		return types.PrincipalName{}, "", &KerberosError{Reason: KerberosConfig, what: fmt.Sprintf("bad principal %q", p),
			Fix: "use name@REALM, or set default_realm in " + s.confPath}
	}
	return types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, name), realm, nil
}

// NewSPNEGOWithKeytab returns an SPNEGO authenticator that logs in as
// principal ("name@REALM"; without a realm, krb5.conf's default_realm)
// with its key from the keytab at keytabPath, as a service account does.
// The keytab is read once, here; it fails with KerberosNoKeytabEntry when
// the keytab has no key for the principal. It contacts no KDC before the
// first Authenticate.
func NewSPNEGOWithKeytab(principal, keytabPath string, opts ...SPNEGOOption) (*SPNEGO, error) {
	s, err := newSPNEGO(fromKeytab, opts)
	if err != nil {
		return nil, err
	}
	pn, realm, err := s.splitPrincipal(principal)
	if err != nil {
		return nil, err
	}
	s.principal = pn.PrincipalNameString() + "@" + realm
	kt, err := keytab.Load(keytabPath)
	if err != nil {
		return nil, &KerberosError{Reason: KerberosConfig, Principal: s.principal, what: "cannot read the keytab " + keytabPath, Err: err}
	}
	found := false
	for _, e := range kt.Entries {
		if e.Principal.Realm == realm && strings.Join(e.Principal.Components, "/") == pn.PrincipalNameString() {
			found = true
			break
		}
	}
	if !found {
		return nil, noKeytabEntry(s.principal, keytabPath, nil)
	}
	s.cl = client.NewWithKeytab(pn.PrincipalNameString(), realm, kt, s.conf, client.DisablePAFXFAST(true))
	return s, nil
}

func noKeytabEntry(principal, path string, err error) *KerberosError {
	return &KerberosError{Reason: KerberosNoKeytabEntry, Principal: principal, Err: err,
		what: fmt.Sprintf("no keytab entry for %s in %s", principal, path),
		Fix:  "export that principal's key into the keytab (kadmin: ktadd -norandkey), or name a principal the keytab holds (klist -k)"}
}

// NewSPNEGOWithPassword returns an SPNEGO authenticator that logs in as
// principal ("name@REALM"; without a realm, krb5.conf's default_realm)
// with password. It contacts no KDC before the first Authenticate, where
// a wrong password gives KerberosBadCredentials.
func NewSPNEGOWithPassword(principal, password string, opts ...SPNEGOOption) (*SPNEGO, error) {
	s, err := newSPNEGO(fromPassword, opts)
	if err != nil {
		return nil, err
	}
	pn, realm, err := s.splitPrincipal(principal)
	if err != nil {
		return nil, err
	}
	s.principal = pn.PrincipalNameString() + "@" + realm
	s.cl = client.NewWithPassword(pn.PrincipalNameString(), realm, password, s.conf, client.DisablePAFXFAST(true))
	return s, nil
}

// NewSPNEGOFromCCache returns an SPNEGO authenticator that uses the TGT in
// a credential cache, as left by kinit: ccache is a file path, with or
// without the "FILE:" prefix; empty means $KRB5CCNAME, or when that is
// unset MIT's default /tmp/krb5cc_<uid>. Only file caches are supported.
// It fails with KerberosNoCredentials when there is no cache or no TGT in
// it. The TGT is not renewed; once it has expired, Authenticate reads the
// file again (someone may have run kinit) and fails with KerberosExpired
// if it holds no valid TGT either.
func NewSPNEGOFromCCache(ccache string, opts ...SPNEGOOption) (*SPNEGO, error) {
	s, err := newSPNEGO(fromCCache, opts)
	if err != nil {
		return nil, err
	}
	name := ccache
	if name == "" {
		name = os.Getenv("KRB5CCNAME")
	}
	if name == "" {
		name = "/tmp/krb5cc_" + strconv.Itoa(os.Getuid())
	}
	if typ, rest, ok := strings.Cut(name, ":"); ok && !strings.HasPrefix(name, "/") {
		if !strings.EqualFold(typ, "FILE") {
			return nil, &KerberosError{Reason: KerberosConfig, what: fmt.Sprintf("credential cache %q is of type %s", name, typ),
				Fix: "only file caches are supported: run kinit with KRB5CCNAME=FILE:<path>"}
		}
		name = rest
	}
	s.ccPath = name
	cl, end, mod, err := s.loadCCache()
	if err != nil {
		return nil, err
	}
	s.cl, s.tgtEnd, s.ccMod = cl, end, mod
	return s, nil
}

// loadCCache reads the credential cache file.
func (s *SPNEGO) loadCCache() (cl *client.Client, tgtEnd, mod time.Time, err error) {
	fi, err := os.Stat(s.ccPath)
	if err != nil {
		return nil, tgtEnd, mod, &KerberosError{Reason: KerberosNoCredentials, Principal: s.principal,
			what: "no Kerberos credential cache at " + s.ccPath, Fix: "run kinit", Err: err}
	}
	cc, err := loadCCacheFile(s.ccPath)
	if err != nil {
		return nil, tgtEnd, mod, &KerberosError{Reason: KerberosNoCredentials, Principal: s.principal,
			what: "cannot read the Kerberos credential cache " + s.ccPath, Fix: "run kinit", Err: err}
	}
	realm := cc.DefaultPrincipal.Realm
	s.principal = cc.DefaultPrincipal.PrincipalName.PrincipalNameString() + "@" + realm
	tgt, ok := cc.GetEntry(types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", realm}})
	if !ok {
		return nil, tgtEnd, mod, &KerberosError{Reason: KerberosNoCredentials, Principal: s.principal,
			what: "no ticket-granting ticket for " + s.principal + " in " + s.ccPath, Fix: "run kinit"}
	}
	cl, err = client.NewFromCCache(cc, s.conf, client.DisablePAFXFAST(true))
	if err != nil {
		return nil, tgtEnd, mod, &KerberosError{Reason: KerberosNoCredentials, Principal: s.principal,
			what: "cannot use the Kerberos credential cache " + s.ccPath, Fix: "run kinit", Err: err}
	}
	return cl, tgt.EndTime, fi.ModTime(), nil
}

// loadCCacheFile is credentials.LoadCCache, which panics on some
// malformed files (an empty one, for instance).
func loadCCacheFile(path string) (cc *credentials.CCache, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, errors.New("empty file")
	}
	defer func() {
		if r := recover(); r != nil {
			cc, err = nil, fmt.Errorf("malformed credential cache: %v", r)
		}
	}()
	cc = new(credentials.CCache)
	if err := cc.Unmarshal(b); err != nil {
		return nil, err
	}
	return cc, nil
}

// Principal returns the client principal, name@REALM.
func (s *SPNEGO) Principal() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.principal
}

// SPNFor returns the service principal name a token for hostport is
// minted for: "HTTP/" + the host, lower-cased, without port or trailing
// dot ("livy1.example.com:8998" → "HTTP/livy1.example.com").
func SPNFor(hostport string) (string, error) {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		host = hostport[1 : len(hostport)-1]
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" || strings.ContainsAny(host, "/@ ") {
		return "", &KerberosError{Reason: KerberosConfig, what: fmt.Sprintf("no service principal for host %q", hostport)}
	}
	return "HTTP/" + host, nil
}

// Authenticate implements Authenticator: it sets "Authorization:
// Negotiate <token>" with a fresh token for HTTP/<host of hostport>.
func (s *SPNEGO) Authenticate(req *http.Request, hostport string) error {
	spn, err := SPNFor(hostport)
	if err != nil {
		return err
	}
	if s.kind == fromCCache {
		if err := s.refreshCCache(); err != nil {
			return err
		}
	}
	// Held while the client is used, so that Close (which destroys it)
	// waits for calls in flight.
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return s.closedError(spn)
	}
	// gokrb5's SetSPNEGOHeader flattens errors into text; getting the TGT
	// and the service ticket first (both cached by the client) keeps them
	// classifiable. The token itself (with a new authenticator) is made
	// afresh on every call.
	s.login.Lock()
	err = s.cl.AffirmLogin() // no KDC exchange while the TGT is valid
	s.login.Unlock()
	if err != nil {
		return s.classify(err, spn)
	}
	tkt, key, err := s.cl.GetServiceTicket(spn)
	if err != nil {
		return s.classify(err, spn)
	}
	if s.mutual {
		return s.setMutualHeader(req, spn, tkt, key)
	}
	if err := spnego.SetSPNEGOHeader(s.cl, req, spn); err != nil {
		return s.classify(err, spn)
	}
	return nil
}

func (s *SPNEGO) closedError(spn string) error {
	return &KerberosError{Reason: KerberosConfig, Principal: s.principal, SPN: spn, what: "the SPNEGO authenticator is closed"}
}

// refreshCCache reads the credential cache again once the TGT loaded from
// it has expired: someone may have run kinit since.
func (s *SPNEGO) refreshCCache() error {
	s.mu.RLock()
	valid := s.closed || time.Now().Before(s.tgtEnd)
	s.mu.RUnlock()
	if valid {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || time.Now().Before(s.tgtEnd) { // closed, or another caller reloaded it
		return nil
	}
	expired := &KerberosError{Reason: KerberosExpired, Principal: s.principal,
		what: fmt.Sprintf("the Kerberos ticket-granting ticket of %s in %s expired at %s", s.principal, s.ccPath,
			s.tgtEnd.Local().Format(time.DateTime)),
		Fix: "run kinit"}
	if fi, err := os.Stat(s.ccPath); err != nil || fi.ModTime().Equal(s.ccMod) {
		return expired
	}
	cl, end, mod, err := s.loadCCache()
	if err != nil {
		return err
	}
	if !time.Now().Before(end) {
		cl.Destroy()
		s.ccMod = mod
		return expired
	}
	s.cl.Destroy()
	s.cl, s.tgtEnd, s.ccMod = cl, end, mod
	return nil
}

// Close releases the client: it stops gokrb5's TGT renewal and forgets
// the tickets. Authenticate fails afterwards. It is idempotent.
func (s *SPNEGO) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.cl.Destroy()
	}
	return nil
}

// krbCode finds the Kerberos error code in gokrb5's error text
// ("KRB Error: (37) KRB_AP_ERR_SKEW ..."): gokrb5 flattens its errors into
// strings, so the code survives only there.
var krbCode = regexp.MustCompile(`KRB Error: \((\d+)\)`)

// Kerberos error codes (RFC 4120, section 7.5.9).
const (
	kdcErrCPrincipalUnknown = 6
	kdcErrSPrincipalUnknown = 7
	kdcErrKeyExpired        = 23
	kdcErrPreauthFailed     = 24
	krbApErrBadIntegrity    = 31
	krbApErrTktExpired      = 32
	krbApErrSkew            = 37
)

// classify turns a gokrb5 error into a *KerberosError that says what to
// fix. It is called with s.mu held.
func (s *SPNEGO) classify(err error, spn string) error {
	var ke *KerberosError
	if errors.As(err, &ke) {
		return err
	}
	principal, ccPath, kind := s.principal, s.ccPath, s.kind
	realm := principal[strings.LastIndexByte(principal, '@')+1:]
	e := &KerberosError{Principal: principal, SPN: spn, Err: err}
	msg := err.Error()
	code := -1
	if m := krbCode.FindStringSubmatch(msg); m != nil {
		code, _ = strconv.Atoi(m[1])
	}
	switch {
	case code == kdcErrSPrincipalUnknown:
		e.Reason = KerberosUnknownServer
		e.what = fmt.Sprintf("the KDC knows no service principal %s@%s", spn, realm)
		e.Fix = "the Livy server at that host needs that principal in its keytab, and clients must reach it by the host name the principal names"
	case code == kdcErrCPrincipalUnknown:
		e.Reason = KerberosUnknownClient
		e.what = "the KDC knows no principal " + principal
		e.Fix = "check the principal's name and realm"
	case code == krbApErrSkew:
		e.Reason = KerberosClockSkew
		e.what = "clock skew too great between this host and the KDC"
		e.Fix = "synchronise the clocks (NTP); Kerberos allows 5 minutes by default"
	case code == krbApErrTktExpired || code == kdcErrKeyExpired ||
		strings.Contains(msg, "no user credentials available and no valid existing session"):
		e.Reason = KerberosExpired
		e.what = "the Kerberos ticket of " + principal + " expired"
		e.Fix = "run kinit"
		if kind == fromKeytab || kind == fromPassword {
			e.Fix = "check the principal's password or key expiry with the Kerberos admin"
		}
	case code == kdcErrPreauthFailed || code == krbApErrBadIntegrity ||
		strings.Contains(msg, "client password/keytab incorrect"):
		e.Reason = KerberosBadCredentials
		e.what = "the KDC rejected the credentials of " + principal
		e.Fix = "check the password"
		if kind == fromKeytab {
			e.Fix = "export the keytab again: its key version may be stale"
		}
	case strings.Contains(msg, "matching key not found in keytab") || strings.Contains(msg, "could not get key from keytab"):
		e.Reason = KerberosNoKeytabEntry
		e.what = "no keytab entry for " + principal
		e.Fix = "export that principal's key (with the encryption types krb5.conf allows) into the keytab"
	case strings.Contains(msg, "error sending to a KDC") || strings.Contains(msg, "communication error with KDC") ||
		strings.Contains(msg, "failed to communicate with KDC") || strings.Contains(msg, "resolving KDC") ||
		strings.Contains(msg, "does not have any defined KDCs"):
		e.Reason = KerberosKDCUnreachable
		e.what = "cannot reach a KDC of realm " + realm
		e.Fix = "check the kdc entries of " + s.confPath + " and that the KDC is up"
	case code >= 0:
		e.Reason = KerberosOther
		e.what = "the KDC refused a ticket for " + spn
	default:
		e.Reason = KerberosOther
		e.what = "cannot make a SPNEGO token for " + spn
	}
	if kind == fromCCache && e.Reason == KerberosExpired {
		e.what += " (credential cache " + ccPath + ")"
	}
	return e
}
