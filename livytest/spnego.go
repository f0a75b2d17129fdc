package livytest

// Kerberos SPNEGO authentication (Config.SPNEGOKeytab), modelled on
// Hadoop's AuthenticationFilter with KerberosAuthenticationHandler, which
// Livy uses for livy.server.auth.type = kerberos:
//
//   - no "Authorization: Negotiate …" header: 401 with
//     "WWW-Authenticate: Negotiate" (the handler's challenge);
//   - a token that does not verify: 403 with the reason (the filter turns
//     the handler's AuthenticationException into SC_FORBIDDEN);
//   - a valid token: served, with the acceptor's answer in
//     "WWW-Authenticate: Negotiate <token>" — for a client that asked for
//     mutual authentication (curl, requests-kerberos) a Kerberos AP-REP it
//     can check, else a bare SPNEGO accept-completed.
//
// Both SPNEGO-wrapped tokens (curl, gokrb5) and raw Kerberos GSS-API
// tokens (pykerberos, as requests-kerberos sends them) are accepted, as
// Java's acceptor does; the answer uses the same framing. Tickets are
// verified with gokrb5 (messages.APReq.Verify: the ticket decrypted with
// the server key, its times, the authenticator, the clock skew); the
// replay cache is livytest's own, per server, without the background
// goroutine gokrb5's service package keeps for its process-wide one.
// Hadoop's signed "hadoop.auth" cookie, which lets a client skip SPNEGO
// on later requests, is not issued.

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// maxClockSkew is Kerberos' default allowed clock skew (and how long
// authenticators stay in the replay cache).
const maxClockSkew = 5 * time.Minute

// negotiate authenticates the request with SPNEGO. It returns true with
// c.user set, or false after answering 401 or 403.
func (c *call) negotiate() bool {
	h := c.r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Negotiate") { // Hadoop: startsWith(NEGOTIATE)
		c.w.Header().Set("WWW-Authenticate", "Negotiate")
		c.text(http.StatusUnauthorized, "Authentication required")
		return false
	}
	res, err := acceptNegotiate(c.s, strings.TrimSpace(h[len("Negotiate"):]), c.r.RemoteAddr)
	if err != nil {
		// The reason names principals, never token bytes.
		c.s.log.Warn("livytest: SPNEGO authentication failed", "remote", c.r.RemoteAddr, "err", err)
		c.text(http.StatusForbidden, "GSSException: "+err.Error())
		return false
	}
	if res.reply != "" {
		c.w.Header().Set("WWW-Authenticate", "Negotiate "+res.reply)
	}
	c.user = &res.user
	return true
}

type negotiated struct {
	user  string // the remote user (short name)
	reply string // base64 answer token, or ""
}

// acceptNegotiate verifies a base64 Negotiate token for server s.
func acceptNegotiate(s *Server, b64 string, remoteAddr string) (negotiated, error) {
	v, err := verifyNegotiate(s.cfg.SPNEGOKeytab, s.cfg.SPNEGOPrincipal, b64, remoteAddr)
	if err != nil {
		return negotiated{}, err
	}
	a := v.req.Authenticator
	target := v.req.Ticket.SName.PrincipalNameString() + "@" + v.req.Ticket.Realm
	if replays.seen(s.url+" "+target, a.CName.PrincipalNameString()+"@"+a.CRealm, a.CTime, a.Cusec, v.req.EncryptedAuthenticator.Cipher) {
		return negotiated{}, fmt.Errorf("request is a replay (34) for %s", target)
	}
	user := a.CName.PrincipalNameString()
	if a.CRealm != v.req.Ticket.Realm {
		user += "@" + a.CRealm
	} else if i := strings.IndexByte(user, '/'); i >= 0 {
		user = user[:i] // Hadoop's DEFAULT auth_to_local rule
	}
	reply, err := v.answer()
	if err != nil {
		return negotiated{}, err
	}
	return negotiated{user: user, reply: reply}, nil
}

// verified is a token that verified.
type verified struct {
	req     *messages.APReq // decrypted
	mech    asn1.ObjectIdentifier
	wrapped bool // SPNEGO framing (else raw Kerberos)
}

// verifyNegotiate verifies a base64 Negotiate token against the key of
// principal (empty: any HTTP/* principal) in the keytab file.
func verifyNegotiate(keytabPath, principal, b64, remoteAddr string) (*verified, error) {
	tok, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(tok) == 0 {
		return nil, errors.New("defective token: not base64")
	}
	apReq, mech, wrapped, err := parseNegotiate(tok)
	if err != nil {
		return nil, err
	}
	sname := apReq.Ticket.SName.PrincipalNameString()
	target := sname + "@" + apReq.Ticket.Realm
	switch {
	case principal == "" && !strings.HasPrefix(sname, "HTTP/"):
		return nil, fmt.Errorf("invalid server principal %s decoded from client request", target)
	case principal != "" && target != principal && (strings.Contains(principal, "@") || sname != principal):
		return nil, fmt.Errorf("no valid credentials provided: the token is for %s, this server is %s", target, principal)
	}
	kt, err := loadKeytab(keytabPath)
	if err != nil {
		return nil, fmt.Errorf("cannot read keytab: %v", err)
	}
	addr, _ := types.GetHostAddress(remoteAddr)
	pn := apReq.Ticket.SName
	if ok, err := apReq.Verify(kt, maxClockSkew, addr, &pn); err != nil || !ok {
		if err == nil {
			err = errors.New("ticket not valid")
		}
		return nil, fmt.Errorf("token for %s not accepted: %v", target, err)
	}
	return &verified{req: apReq, mech: mech, wrapped: wrapped}, nil
}

// answer returns the acceptor's base64 answer token, or "" for none: for
// a client that asked for mutual authentication, an AP-REP (in SPNEGO
// framing if the token had it); else SPNEGO accept-completed, or nothing
// for a raw Kerberos token.
func (v *verified) answer() (string, error) {
	var inner []byte
	if mutualRequested(v.req) {
		var err error
		if inner, err = apRepToken(v.req); err != nil {
			return "", fmt.Errorf("cannot answer for mutual authentication: %v", err)
		}
	}
	reply := inner
	if v.wrapped {
		resp := spnego.NegTokenResp{NegState: asn1.Enumerated(spnego.NegStateAcceptCompleted), SupportedMech: v.mech, ResponseToken: inner}
		var err error
		if reply, err = resp.Marshal(); err != nil {
			return "", err
		}
	}
	if reply == nil {
		return "", nil
	}
	return base64.StdEncoding.EncodeToString(reply), nil
}

// parseNegotiate returns the AP-REQ inside a SPNEGO NegTokenInit (with
// the mechanism it was sent for) or a raw Kerberos GSS-API token.
func parseNegotiate(tok []byte) (*messages.APReq, asn1.ObjectIdentifier, bool, error) {
	var st spnego.SPNEGOToken
	var k5 spnego.KRB5Token
	wrapped := false
	var mech asn1.ObjectIdentifier
	if err := st.Unmarshal(tok); err == nil {
		if !st.Init {
			return nil, nil, false, errors.New("defective token: not a NegTokenInit")
		}
		mt := st.NegTokenInit.MechTypes
		if len(mt) == 0 || !(mt[0].Equal(gssapi.OIDKRB5.OID()) || mt[0].Equal(gssapi.OIDMSLegacyKRB5.OID())) {
			return nil, nil, false, errors.New("defective token: the first mechanism offered is not Kerberos")
		}
		if len(st.NegTokenInit.MechTokenBytes) == 0 {
			return nil, nil, false, errors.New("defective token: no Kerberos token")
		}
		if err := k5.Unmarshal(st.NegTokenInit.MechTokenBytes); err != nil {
			return nil, nil, false, fmt.Errorf("defective token: %v", err)
		}
		wrapped, mech = true, mt[0]
	} else if err := k5.Unmarshal(tok); err != nil {
		return nil, nil, false, fmt.Errorf("defective token: neither SPNEGO nor Kerberos: %v", err)
	}
	if !k5.IsAPReq() {
		return nil, nil, false, errors.New("defective token: not an AP-REQ")
	}
	return &k5.APReq, mech, wrapped, nil
}

// mutualRequested reports whether the client asked for mutual
// authentication: the AP option, or the GSS-API flag in the
// authenticator's checksum (RFC 4121 4.1.1).
func mutualRequested(r *messages.APReq) bool {
	if types.IsFlagSet(&r.APOptions, flags.APOptionMutualRequired) {
		return true
	}
	ck := r.Authenticator.Cksum.Checksum
	return len(ck) >= 24 && ck[20]&byte(gssapi.ContextFlagMutual) != 0
}

// apRepToken builds the Kerberos GSS-API token (RFC 4121) holding the
// AP-REP for a verified AP-REQ: ctime and cusec of the client's
// authenticator, encrypted with the ticket's session key.
func apRepToken(r *messages.APReq) ([]byte, error) {
	part := struct {
		CTime time.Time `asn1:"generalized,explicit,tag:0"`
		Cusec int       `asn1:"explicit,tag:1"`
	}{r.Authenticator.CTime.UTC(), r.Authenticator.Cusec}
	b, err := asn1.Marshal(part)
	if err != nil {
		return nil, err
	}
	b = asn1tools.AddASNAppTag(b, asnAppTag.EncAPRepPart)
	ed, err := crypto.GetEncryptedData(b, r.Ticket.DecryptedEncPart.Key, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, err
	}
	rep := messages.APRep{PVNO: 5, MsgType: msgtype.KRB_AP_REP, EncPart: ed}
	rb, err := asn1.Marshal(rep)
	if err != nil {
		return nil, err
	}
	rb = asn1tools.AddASNAppTag(rb, asnAppTag.APREP)
	oid, err := asn1.Marshal(gssapi.OIDKRB5.OID())
	if err != nil {
		return nil, err
	}
	inner := append(append(oid, 0x02, 0x00), rb...) // TOK_ID KRB_AP_REP
	return asn1tools.AddASNAppTag(inner, 0), nil
}

// NegotiateSPN returns the service principal (HTTP/host@REALM) that the
// ticket in an "Authorization: Negotiate <token>" header value was issued
// for, without verifying anything: for tests to check which server a
// client minted a token for (e.g. in the headers of Server.Requests).
func NegotiateSPN(authorization string) (string, error) {
	b64, ok := strings.CutPrefix(authorization, "Negotiate ")
	if !ok {
		return "", errors.New("livytest: not a Negotiate authorization")
	}
	tok, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return "", fmt.Errorf("livytest: %w", err)
	}
	r, _, _, err := parseNegotiate(tok)
	if err != nil {
		return "", fmt.Errorf("livytest: %w", err)
	}
	return r.Ticket.SName.PrincipalNameString() + "@" + r.Ticket.Realm, nil
}

// keytabs caches parsed keytab files by path, re-read when they change.
var keytabs struct {
	mu sync.Mutex
	m  map[string]keytabEntry
}

type keytabEntry struct {
	mod  time.Time
	size int64
	kt   *keytab.Keytab
}

func loadKeytab(path string) (*keytab.Keytab, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	keytabs.mu.Lock()
	defer keytabs.mu.Unlock()
	if e, ok := keytabs.m[path]; ok && e.mod.Equal(fi.ModTime()) && e.size == fi.Size() {
		return e.kt, nil
	}
	kt, err := keytab.Load(path)
	if err != nil {
		return nil, err
	}
	if keytabs.m == nil {
		keytabs.m = make(map[string]keytabEntry)
	}
	keytabs.m[path] = keytabEntry{mod: fi.ModTime(), size: fi.Size(), kt: kt}
	return kt, nil
}

// replays remembers the authenticators each server accepted for
// maxClockSkew (RFC 4120 3.2.3), pruned as new ones arrive (memory only:
// no goroutine).
var replays replayCache

type replayCache struct {
	mu      sync.Mutex
	entries map[string]time.Time // server, client, ctime → when accepted
	next    time.Time            // next prune
}

func (rc *replayCache) seenBefore(key string, now time.Time) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.entries == nil {
		rc.entries = make(map[string]time.Time)
	}
	if now.After(rc.next) {
		for k, t := range rc.entries {
			if now.Sub(t) > maxClockSkew {
				delete(rc.entries, k)
			}
		}
		rc.next = now.Add(time.Minute)
	}
	if _, ok := rc.entries[key]; ok {
		return true
	}
	rc.entries[key] = now
	return false
}

// seen records an authenticator and reports whether it was seen before.
// As in MIT's and Java's replay caches, the key includes a hash of the
// encrypted authenticator: two authenticators a client makes in the same
// microsecond differ there, a replayed one does not.
func (rc *replayCache) seen(server, client string, ctime time.Time, cusec int, cipher []byte) bool {
	h := sha256.Sum256(cipher)
	return rc.seenBefore(fmt.Sprintf("%s|%s|%d.%06d|%x", server, client, ctime.Unix(), cusec, h[:16]), time.Now())
}

// CheckSPNEGO reports whether a server configured with these
// Config.SPNEGOKeytab and Config.SPNEGOPrincipal values could verify
// tokens: the keytab must be readable and hold a key for the principal
// (or, with an empty principal, for some HTTP/* principal). Start does not
// check; a server with a bad keytab answers every request 403.
func CheckSPNEGO(keytabPath, principal string) error {
	kt, err := loadKeytab(keytabPath)
	if err != nil {
		return fmt.Errorf("livytest: SPNEGO keytab: %w", err)
	}
	if principal != "" && !strings.HasPrefix(principal, "HTTP/") {
		return fmt.Errorf("livytest: SPNEGO principal %q: want HTTP/<host>[@REALM]", principal)
	}
	name, realm, _ := strings.Cut(principal, "@")
	for _, e := range kt.Entries {
		n := strings.Join(e.Principal.Components, "/")
		if (principal == "" && strings.HasPrefix(n, "HTTP/")) || (n == name && (realm == "" || realm == e.Principal.Realm)) {
			return nil
		}
	}
	if principal == "" {
		return fmt.Errorf("livytest: SPNEGO keytab %s holds no HTTP/* principal", keytabPath)
	}
	return fmt.Errorf("livytest: SPNEGO keytab %s holds no key for %s", keytabPath, principal)
}
