package livyclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/retry"
)

// Sentinel errors of the HA transport.
var (
	// ErrUntrustedRedirect: a server redirected to a host that is neither a
	// cluster member nor explicitly trusted. Nothing was sent there.
	ErrUntrustedRedirect = errors.New("livyclient: redirect to a host that is not a cluster member")
	// ErrTooManyRedirects: the redirect hop limit was reached.
	ErrTooManyRedirects = errors.New("livyclient: too many redirects")
	// ErrAmbiguous: a non-idempotent request was sent but no answer came
	// back, so whether it took effect is unknown. It was not retried. The
	// error is an *AmbiguousError.
	ErrAmbiguous = errors.New("livyclient: request sent but not answered; outcome unknown")
	// ErrBadOption is wrapped by errors about invalid options.
	ErrBadOption = errors.New("livyclient: bad option")
)

// StandbyText starts the body of a passive Livy server's 307.
const StandbyText = retry.StandbyText

// Transport is the HA transport: an http.RoundTripper that sends each
// request to the right Livy server — the owner of the session for
// session-scoped paths (/sessions/{id}/…, /batches/{id}/…), the active
// server otherwise — whatever host the request URL names (by convention
// "http://livy"). It works under any http.Client.
//
// It follows 307/308 itself, re-sending the body and re-applying
// credentials per hop through the Authenticator, but only towards hosts
// that are cluster members or explicitly trusted; any other Location ends
// the request with ErrUntrustedRedirect before anything is sent there.
// A refused connection or a 503 makes it wait (bounded) for the cluster
// view to change, back off, and try again, within the retry policy and a
// retry budget. Requests that are not idempotent are repeated only when
// they provably never reached a server.
type Transport struct {
	base         http.RoundTripper
	cluster      cluster
	auth         Authenticator
	requestedBy  string
	maxRedirects int
	trusted      map[string]bool
	policy       retry.Policy
	budget       *retry.Budget
	log          *slog.Logger
	hooks        Hooks
}

// maxUntrustedRetries bounds how often a request starts over after a
// member redirected it outside the cluster (see RoundTrip).
const maxUntrustedRetries = 2

// hopError carries the server a transport error happened on.
type hopError struct {
	server string
	err    error
}

func (e *hopError) Error() string { return e.server + ": " + e.err.Error() }
func (e *hopError) Unwrap() error { return e.err }

// AmbiguousError is returned (wrapping ErrAmbiguous) when a request that
// is not idempotent was sent but no answer came back — the connection
// died, or the context ended while it was in flight.
type AmbiguousError struct {
	// Server is the base URL of the server the request was sent to.
	Server       *url.URL
	Method, Path string
	Err          error
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("%v: %s %s via %s: %v", ErrAmbiguous, e.Method, e.Path, hostPort(e.Server), e.Err)
}

// Unwrap returns ErrAmbiguous and the underlying error.
func (e *AmbiguousError) Unwrap() []error { return []error{ErrAmbiguous, e.Err} }

type pinKey struct{}

// pinned returns ctx with requests pinned to the server at base: no other
// server is tried.
func pinned(ctx context.Context, base *url.URL) context.Context {
	return context.WithValue(ctx, pinKey{}, base)
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	getBody, err := replayableBody(req)
	if err != nil {
		return nil, err
	}
	scope := sessionScope(req.URL.Path)
	idempotent := retry.Idempotent(req.Method)
	pin, _ := ctx.Value(pinKey{}).(*url.URL)
	start := time.Now()
	// Finding a server (which may wait for the first snapshot) is bounded
	// by MaxElapsed too — except when the active server is picked from a
	// view that is already in, which never waits (a timer saved per
	// request); an owner's lookup may read ZooKeeper, so it is bounded.
	pctx := ctx
	if t.policy.MaxElapsed > 0 && (scope.id >= 0 || !t.cluster.ready()) {
		var cancel context.CancelFunc
		pctx, cancel = context.WithDeadline(ctx, start.Add(t.policy.MaxElapsed))
		defer cancel()
	}
	var (
		untrusted int
		bounded   bool            // this retry is bounded by its own count: probe regardless of budget
		tried     map[string]bool // lazily: the common case is one attempt
		lastErr   error
		timer     *time.Timer
		deadline  <-chan time.Time
		final     bool // the deadline passed: this is the last attempt
		// backoffN counts the failed attempts since the cluster view last
		// changed: a new view (a new active, which may still be starting:
		// PR #212 restarts Jetty) is probed from the shortest backoff
		// again, not from the long one the old view's failures reached.
		backoffN int
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for attempt := 1; ; attempt++ {
		var base *url.URL
		var changed <-chan struct{}
		var perr error
		if pin != nil {
			base = pin
		} else {
			base, changed, perr = t.cluster.pick(pctx, scope, tried)
		}
		var resp *http.Response
		var herr error
		if perr == nil {
			// An idempotent request in flight to a server that stops being
			// the one to ask (the active moved; a frozen active is only
			// noticed through ZooKeeper) is cut and sent again to the new
			// one, instead of hanging for the caller's whole deadline.
			actx, cancelAttempt := ctx, context.CancelCauseFunc(nil)
			var w *moveWatch
			if idempotent && pin == nil && changed != nil {
				actx, cancelAttempt = context.WithCancelCause(ctx)
				w = t.watchMove(base, scope, cancelAttempt)
			}
			resp, herr = t.follow(actx, req, base, getBody)
			if w != nil {
				w.stop()
				if herr == nil {
					resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: func() { cancelAttempt(nil) }}
				} else {
					if errors.Is(context.Cause(actx), errMoved) && ctx.Err() == nil {
						herr = fmt.Errorf("%s: %w", hostPort(base), errMoved)
					}
					cancelAttempt(nil)
				}
			}
			if pin == nil {
				t.cluster.done(base)
			}
			if herr == nil && resp.StatusCode == http.StatusInternalServerError && takeover(resp) {
				// PR #212's filter failed before any servlet (no leader
				// known yet): nothing ran; wait like a 503.
				t.cluster.hint()
				resp.StatusCode = http.StatusServiceUnavailable
			}
			if herr == nil && resp.StatusCode != http.StatusServiceUnavailable {
				t.budget.OnSuccess()
				t.cluster.good(resp.Request.URL)
				return resp, nil
			}
			if tried == nil {
				tried = make(map[string]bool)
			}
			tried[hostPort(base)] = true
			// A refused connection or a 503 says the view may be stale (the
			// active died, or a passive knows no leader): a source that
			// learns the leader only by asking, such as a static list,
			// looks again. Refresh is coalesced, so once per failed attempt
			// is cheap.
			if pin == nil && (herr == nil || unreachable(herr)) {
				t.cluster.hint()
			}
		}
		// Decide whether this failure may be retried.
		var aerr *AuthError
		switch {
		case herr != nil && errors.As(herr, &aerr):
			return nil, herr // nothing was sent; retrying cannot help
		case herr != nil && errors.Is(herr, errSelfRedirect):
			t.cluster.hint()
			lastErr = herr // nothing ran: wait for the takeover to end
		case perr != nil:
			if errors.Is(perr, discovery.ErrClosed) || (ctx.Err() != nil) {
				return nil, perr
			}
			lastErr = perr // no leader/owner known (yet): wait for the view to change
		case herr != nil && !idempotent && !retry.NeverSent(herr) && !errors.Is(herr, ErrUntrustedRedirect) &&
			!errors.Is(herr, ErrTooManyRedirects) && (ctx.Err() != nil || retry.Retryable(herr)):
			// Sent, no answer (also when ctx ended in flight): the outcome
			// is unknown, so it is not repeated blindly.
			return nil, &AmbiguousError{Server: base, Method: req.Method, Path: req.URL.Path, Err: herr}
		case herr != nil && errors.Is(herr, ErrUntrustedRedirect) && untrusted < maxUntrustedRetries && ctx.Err() == nil && !final:
			// A member redirected outside the cluster as we know it. Nothing
			// was sent there. Usually a passive with a stale view sends us
			// to a server that has just left (after a kill -9): refresh our
			// view and start over, a bounded number of times.
			untrusted++
			t.cluster.hint()
			lastErr = herr
			bounded = true
		case herr != nil:
			if errors.Is(herr, ErrUntrustedRedirect) || errors.Is(herr, ErrTooManyRedirects) || ctx.Err() != nil {
				return nil, herr
			}
			if !retry.Retryable(herr) && !errors.Is(herr, errMoved) {
				return nil, herr
			}
			lastErr = herr
		default: // 503
			if final || attempt >= t.policy.Attempts() {
				return resp, nil
			}
			drain(resp)
			lastErr = fmt.Errorf("%s answered 503", hostPort(resp.Request.URL))
		}
		if final || attempt >= t.policy.Attempts() {
			return nil, fmt.Errorf("livyclient: %s %s: gave up after %d attempts in %s: %w",
				req.Method, req.URL.Path, attempt, time.Since(start).Round(time.Millisecond), lastErr)
		}
		t.budget.OnFailure()
		t.hooks.retry(req, attempt, lastErr)
		if deadline == nil && t.policy.MaxElapsed > 0 {
			dt := time.NewTimer(time.Until(start.Add(t.policy.MaxElapsed)))
			defer dt.Stop()
			deadline = dt.C
		}
		if perr == nil && changed == nil && pin == nil && len(tried) < t.clusterSize() {
			continue // static endpoints: try the next one at once
		}
		// Wait for the cluster view to change, probing again after a
		// backoff. While the retry budget is spent, probes slow down to
		// the policy's maximum backoff, so a dead cluster is not hammered
		// but a short outage still ends in success.
		backoffN++
		wait := t.policy.Backoff(backoffN)
		if !bounded && changed != nil && !t.budget.Allow() {
			wait = max(t.policy.Max, wait)
		}
		bounded = false
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		t.log.Debug("livyclient: retrying", "method", req.Method, "path", req.URL.Path, "attempt", attempt, "err", lastErr)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last error: %v)", ctx.Err(), lastErr)
		case <-changed:
			clear(tried)
			backoffN = 0
		case <-timer.C:
		case <-deadline:
			final = true // one last attempt, then give up
			deadline = nil
		}
	}
}

// errSelfRedirect: a server redirected a request to itself (a takeover in
// progress). Nothing was executed, so any request may be repeated.
var errSelfRedirect = errors.New("redirected to itself: a takeover in progress")

// errMoved cuts an idempotent attempt whose server stopped being the one
// to ask.
var errMoved = errors.New("the cluster moved away from this server while the request was in flight")

// moveWatch cancels an attempt to base when a newer cluster view sends
// the request's scope elsewhere. It costs no goroutine until the view
// changes (context.AfterFunc on the cluster's per-view context).
type moveWatch struct {
	t      *Transport
	base   *url.URL
	sc     scope
	cancel context.CancelCauseFunc
	mu     sync.Mutex
	done   bool
	unreg  func() bool
}

func (t *Transport) watchMove(base *url.URL, sc scope, cancel context.CancelCauseFunc) *moveWatch {
	w := &moveWatch{t: t, base: base, sc: sc, cancel: cancel}
	w.arm()
	return w
}

// arm waits for the next view change.
func (w *moveWatch) arm() {
	vc := w.t.cluster.view()
	if vc == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	w.unreg = context.AfterFunc(vc, w.check)
}

func (w *moveWatch) check() {
	if !w.t.cluster.still(w.base, w.sc) {
		w.cancel(errMoved)
		return
	}
	w.arm()
}

func (w *moveWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	if w.unreg != nil {
		w.unreg()
	}
}

// cancelOnClose releases an attempt's context when the body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel func()
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

func (t *Transport) clusterSize() int {
	if s, ok := t.cluster.(*staticCluster); ok {
		return len(s.eps)
	}
	return 1
}

// follow sends req to base and follows 307/308 redirects towards cluster
// members, re-applying credentials per hop.
func (t *Transport) follow(ctx context.Context, req *http.Request, base *url.URL, getBody func() (io.ReadCloser, error)) (*http.Response, error) {
	target := rebase(req.URL, base)
	renegotiated := false
	for hop := 0; ; hop++ {
		out, err := t.prepare(ctx, req, target, getBody)
		if err != nil {
			return nil, err
		}
		resp, err := t.base.RoundTrip(out)
		if err != nil {
			return nil, &hopError{server: hostPort(target), err: err}
		}
		if resp.Request == nil { // some RoundTrippers leave it unset
			resp.Request = out
		}
		if rc, ok := t.auth.(ResponseChecker); ok {
			// Mutual authentication: an answer from a server that cannot
			// prove who it is is not used.
			if err := rc.CheckResponse(out, resp); err != nil {
				drain(resp)
				return nil, &AuthError{Server: hostPort(target), Err: err}
			}
		}
		if resp.StatusCode == http.StatusUnauthorized && t.auth != nil && !renegotiated && negotiates(resp) {
			// A SPNEGO server refused this hop's token (e.g. a replay
			// after a clock hiccup): one more try with a fresh token for
			// the same host. Nothing ran on a 401, so a POST may repeat.
			renegotiated = true
			drain(resp)
			hop--
			continue
		}
		if resp.StatusCode != http.StatusTemporaryRedirect && resp.StatusCode != http.StatusPermanentRedirect {
			return resp, nil
		}
		loc, err := resp.Location()
		standby := isStandby(resp)
		drain(resp)
		if err != nil {
			return nil, fmt.Errorf("livyclient: %s answered %d with a bad Location: %w", hostPort(target), resp.StatusCode, err)
		}
		if loc.Scheme != "http" && loc.Scheme != "https" {
			t.hooks.redirect(hostPort(target), hostPort(loc), false)
			return nil, fmt.Errorf("%w: %s redirected to %q", ErrUntrustedRedirect, hostPort(target), loc.Redacted())
		}
		next := hostPort(loc)
		if next == hostPort(target) && loc.Scheme == target.Scheme {
			// A server that holds the latch but is not active yet (PR
			// #212 restarting after a takeover) redirects to itself:
			// nothing ran; wait and try again, like a 503.
			return nil, &hopError{server: next, err: errSelfRedirect}
		}
		if target.Scheme == "https" && loc.Scheme != "https" {
			t.hooks.redirect(hostPort(target), next, false)
			return nil, fmt.Errorf("%w: %s redirected %s %s from https to %s", ErrUntrustedRedirect, hostPort(target), req.Method, req.URL.Path, loc.Scheme)
		}
		if !t.cluster.member(loc) && !t.trusted[next] {
			t.log.Warn("livyclient: refusing redirect to a non-member", "from", hostPort(target), "to", next)
			t.hooks.redirect(hostPort(target), next, false)
			return nil, fmt.Errorf("%w: %s redirected %s %s to %s", ErrUntrustedRedirect, hostPort(target), req.Method, req.URL.Path, next)
		}
		if standby {
			t.cluster.hint()
		}
		if hop+1 > t.maxRedirects {
			t.hooks.redirect(hostPort(target), next, false)
			return nil, fmt.Errorf("%w: %s %s: more than %d hops (last: %s)", ErrTooManyRedirects, req.Method, req.URL.Path, t.maxRedirects, next)
		}
		t.log.Debug("livyclient: following redirect", "from", hostPort(target), "to", next, "standby", standby)
		t.hooks.redirect(hostPort(target), next, true)
		target = loc
	}
}

// prepare builds the request for one hop: same method, body replayed,
// headers kept except credentials, which the Authenticator applies for this
// host only.
func (t *Transport) prepare(ctx context.Context, req *http.Request, target *url.URL, getBody func() (io.ReadCloser, error)) (*http.Request, error) {
	out := req.WithContext(ctx) // shallow; headers are copied below if changed
	// Livy's CSRF filter wants X-Requested-By on every method but GET,
	// HEAD and OPTIONS (CsrfFilter.scala:24-47, docs/livy-wire.md §5).
	safe := req.Method == http.MethodGet || req.Method == http.MethodHead || req.Method == http.MethodOptions
	needCSRF := t.requestedBy != "" && !safe && out.Header.Get("X-Requested-By") == ""
	if t.auth != nil || needCSRF {
		out.Header = req.Header.Clone()
		if out.Header == nil {
			out.Header = make(http.Header)
		}
	}
	out.URL = target
	out.Host = ""
	out.RequestURI = ""
	if getBody != nil {
		body, err := getBody()
		if err != nil {
			return nil, fmt.Errorf("livyclient: replaying body: %w", err)
		}
		out.Body = body
		out.GetBody = getBody
	}
	if needCSRF {
		out.Header.Set("X-Requested-By", t.requestedBy)
	}
	if t.auth != nil {
		if err := t.auth.Authenticate(out, hostPort(target)); err != nil {
			return nil, &AuthError{Server: hostPort(target), Err: err}
		}
	}
	return out, nil
}

// replayableBody makes sure the body can be sent again on another hop.
func replayableBody(req *http.Request) (func() (io.ReadCloser, error), error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	if req.GetBody != nil {
		req.Body.Close() // every hop reads a fresh copy from GetBody
		return req.GetBody, nil
	}
	data, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("livyclient: reading request body: %w", err)
	}
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }, nil
}

// rebase puts u's path and query on base (scheme, host, base path).
func rebase(u *url.URL, base *url.URL) *url.URL {
	out := *base
	out.Path = base.Path + u.Path
	out.RawPath = ""
	if u.RawPath != "" { // keep escapes such as %2F in a session name
		out.RawPath = base.EscapedPath() + u.EscapedPath()
	}
	out.RawQuery = u.RawQuery
	out.Fragment = ""
	out.User = nil
	return &out
}

// sessionScope returns the numeric session id of /sessions/{id}… and
// /batches/{id}… paths (the Livy API path, after any base path), or -1.
func sessionScope(path string) scope {
	for k, p := range []string{"/sessions/", "/batches/"} {
		i := strings.Index(path, p)
		if i < 0 {
			continue
		}
		rest := path[i+len(p):]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			rest = rest[:j]
		}
		kind := discovery.Interactive
		if k == 1 {
			kind = discovery.Batch
		}
		if n, err := strconv.Atoi(rest); err == nil && n >= 0 && rest[0] != '+' {
			return scope{kind: kind, id: n}
		}
		return scope{id: -1}
	}
	return scope{id: -1}
}

// takeover reads up to 64 KiB of a 500's body to tell a PR #212 server
// whose redirect filter failed (retry.IsTakeover), and puts it back.
func takeover(resp *http.Response) bool {
	if resp.Body == nil {
		return false
	}
	buf, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), resp.Body), resp.Body}
	return retry.IsTakeover(resp.StatusCode, buf)
}

// negotiates reports whether a 401 asks for SPNEGO (WWW-Authenticate:
// Negotiate).
func negotiates(resp *http.Response) bool {
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		if len(v) >= 9 && strings.EqualFold(v[:9], "negotiate") {
			return true
		}
	}
	return false
}

// AuthError is returned when the Authenticator could not produce
// credentials for a hop (no Kerberos ticket, an expired one, …). Nothing
// was sent to that server; it is never retried.
type AuthError struct {
	Server string // host:port the credentials were for
	Err    error
}

func (e *AuthError) Error() string {
	return "livyclient: authenticate for " + e.Server + ": " + e.Err.Error()
}

func (e *AuthError) Unwrap() error { return e.Err }

func isStandby(resp *http.Response) bool {
	if resp.Body == nil {
		return false
	}
	buf := make([]byte, len(StandbyText))
	n, _ := io.ReadFull(resp.Body, buf)
	return retry.IsStandby(resp.StatusCode, buf[:n])
}

// drain discards (a bounded amount of) a response body and closes it, so
// the connection can be reused.
func drain(resp *http.Response) {
	if resp.Body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}
}

// unreachable reports whether err says the server could not be reached at
// all: a refused connection or another failed dial.
func unreachable(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial")
}
