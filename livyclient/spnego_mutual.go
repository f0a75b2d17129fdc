package livyclient

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// WithMutualAuth makes the SPNEGO authenticator require mutual
// authentication (RFC 4120 §3.2.4), as python-requests-kerberos's
// REQUIRED does: each token asks the server to prove itself, and every
// successful answer a server gives to an authenticated hop (a redirect's
// target is checked instead of the redirect; error answers without a
// token pass, as with requests-kerberos) must
// carry, in "WWW-Authenticate: Negotiate <token>", an AP-REP that only the
// holder of HTTP/<that host>'s key can make for this very request.
// Otherwise the request fails with a *KerberosError of reason
// KerberosServerNotAuthenticated, and the answer is discarded. (Hadoop's
// AuthenticationFilter, which Livy uses, sends the AP-REP on success.)
func WithMutualAuth() SPNEGOOption { return func(o *spnegoOptions) { o.mutual = true } }

// ResponseChecker is implemented by an Authenticator that checks the
// answers to the hops it authenticated (SPNEGO's WithMutualAuth). The HA
// transport calls CheckResponse with the request it sent and each answer;
// an error ends the request — the answer is discarded — as an *AuthError,
// never retried.
type ResponseChecker interface {
	CheckResponse(req *http.Request, resp *http.Response) error
}

var _ ResponseChecker = (*SPNEGO)(nil)

// apSent is what checking the AP-REP for one token needs.
type apSent struct {
	spn   string
	key   types.EncryptionKey
	ctime time.Time
	cusec int
	at    time.Time
}

// pendingAPs holds the tokens sent and not yet answered, bounded: those
// whose answer never comes (a dead connection) are dropped after a while.
type pendingAPs struct {
	mu sync.Mutex
	m  map[string]apSent
}

const (
	maxPendingAPs = 1024
	pendingAPAge  = 10 * time.Minute
)

func (p *pendingAPs) put(k string, v apSent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = make(map[string]apSent)
	}
	if len(p.m) >= maxPendingAPs {
		for key, s := range p.m {
			if time.Since(s.at) > pendingAPAge || len(p.m) >= maxPendingAPs {
				delete(p.m, key)
			}
		}
	}
	p.m[k] = v
}

func (p *pendingAPs) take(k string) (apSent, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.m[k]
	delete(p.m, k)
	return v, ok
}

// setMutualHeader sets a token that asks for mutual authentication and
// remembers its authenticator's time, which the server's AP-REP must echo.
func (s *SPNEGO) setMutualHeader(req *http.Request, spn string, tkt messages.Ticket, key types.EncryptionKey) error {
	mt, err := spnego.NewKRB5TokenAPREQ(s.cl, tkt, key,
		[]int{gssapi.ContextFlagInteg, gssapi.ContextFlagConf, gssapi.ContextFlagMutual}, []int{flags.APOptionMutualRequired})
	if err != nil {
		return s.classify(err, spn)
	}
	ap := mt.APReq
	if err := ap.DecryptAuthenticator(key); err != nil { // our own: to know what the server must echo
		return s.classify(err, spn)
	}
	mtb, err := mt.Marshal()
	if err != nil {
		return s.classify(err, spn)
	}
	tok := spnego.SPNEGOToken{Init: true, NegTokenInit: spnego.NegTokenInit{
		MechTypes: []asn1.ObjectIdentifier{gssapi.OIDKRB5.OID()}, MechTokenBytes: mtb}}
	b, err := tok.Marshal()
	if err != nil {
		return s.classify(err, spn)
	}
	hv := "Negotiate " + base64.StdEncoding.EncodeToString(b)
	req.Header.Set("Authorization", hv)
	s.pending.put(hv, apSent{spn: spn, key: key, ctime: ap.Authenticator.CTime, cusec: ap.Authenticator.Cusec, at: time.Now()})
	return nil
}

// CheckResponse implements ResponseChecker: with WithMutualAuth, resp must
// carry the server's AP-REP for the token req carried.
func (s *SPNEGO) CheckResponse(req *http.Request, resp *http.Response) error {
	if !s.mutual {
		return nil
	}
	sent, ok := s.pending.take(req.Header.Get("Authorization"))
	if !ok {
		return nil // not a token of ours
	}
	var b64 string
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		if len(v) > 10 && strings.EqualFold(v[:10], "negotiate ") {
			b64 = strings.TrimSpace(v[10:])
		}
	}
	if b64 == "" && (resp.StatusCode >= 400 || resp.StatusCode == http.StatusTemporaryRedirect || resp.StatusCode == http.StatusPermanentRedirect) {
		// A 401 renegotiates; a redirect is checked at its target; another
		// error without a token is an error answer whatever the server
		// is (requests-kerberos passes those too).
		return nil
	}
	fail := func(what string, err error) error {
		return &KerberosError{Reason: KerberosServerNotAuthenticated, Principal: s.principal, SPN: sent.spn,
			what: fmt.Sprintf("%s answered %d but %s (mutual authentication required)", hostPort(req.URL), resp.StatusCode, what),
			Fix:  "the server is not the one HTTP/" + strings.TrimPrefix(sent.spn, "HTTP/") + " names, or does not send an AP-REP",
			Err:  err}
	}
	if b64 == "" {
		return fail("sent no Negotiate token to prove its identity", nil)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return fail("its Negotiate token is not base64", err)
	}
	var tok spnego.SPNEGOToken
	if err := tok.Unmarshal(raw); err != nil || !tok.Resp {
		return fail("its Negotiate token is not an SPNEGO response", err)
	}
	var kt spnego.KRB5Token
	if err := kt.Unmarshal(tok.NegTokenResp.ResponseToken); err != nil || !kt.IsAPRep() {
		return fail("its Negotiate token holds no Kerberos AP-REP", err)
	}
	plain, err := crypto.DecryptEncPart(kt.APRep.EncPart, sent.key, keyusage.AP_REP_ENCPART)
	if err != nil {
		return fail("its AP-REP is not encrypted with this request's session key", err)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil {
		return fail("its AP-REP cannot be read", err)
	}
	if !part.CTime.Equal(sent.ctime) || part.Cusec != sent.cusec {
		return fail("its AP-REP answers another request", nil)
	}
	return nil
}
