package livyclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/retry"
)

// DefaultPolicy is the HA transport's default retry policy. MaxElapsed
// (75 s) covers a PR #212 failover with its defaults, so a request started
// when the active dies outlives it: Curator's 60 s session, capped by
// ZooKeeper's default maxSessionTimeout of 40 s (20 × a 2 s tick), must
// expire — on a kill -9 and on a SIGTERM alike, PR #212 does not release
// its latch — and the new leader then restarts Jetty and recovers every
// session. With livyha's registrar (10 s sessions, released on a graceful
// stop) failovers are far shorter; lower it with WithRetry.
//
// Backoff (full jitter) starts at 50 ms and is capped at 250 ms, so that
// a request waiting for a server that is starting — a PR #212 leader
// restarting Jetty, refusing connections for seconds — is answered
// within about 250 ms of the server's port opening (a 1 s cap cost up to
// 0.6 s more in the demo); the retry budget slows probes of a cluster
// that stays down. The attempt limit (1000) leaves MaxElapsed the bound.
func DefaultPolicy() retry.Policy {
	return retry.Policy{Initial: 50 * time.Millisecond, Max: 250 * time.Millisecond, Multiplier: 2, MaxAttempts: 1000, MaxElapsed: 75 * time.Second}
}

// Client is a Livy REST client over the HA Transport.
type Client struct {
	Sessions   *SessionsService
	Statements *StatementsService
	Batches    *BatchesService

	hc             *http.Client
	transport      *Transport
	owned          *discovery.Resolver // built from WithTarget; closed by Close
	ownBase        bool                // the base RoundTripper is the client's own: Close closes its idle connections
	generatedNames bool
	pollInterval   time.Duration
	log            *slog.Logger
}

// Option configures New.
type Option func(*options) error

type options struct {
	locator        Locator
	target         string
	targetOpts     []discovery.ResolverOption
	endpoints      []string
	auth           Authenticator
	hc             *http.Client
	policy         retry.Policy
	budget         *retry.Budget
	requestedBy    string
	maxRedirects   int
	trusted        []string
	log            *slog.Logger
	generatedNames bool
	pollInterval   time.Duration
	tls            tlsOptions // WithTLSConfig, WithCAFile (tls.go)
	hooks          Hooks
}

// WithResolver routes requests with a discovery resolver (any Locator).
func WithResolver(l Locator) Option {
	return func(o *options) error { o.locator = l; return nil }
}

// WithTarget routes requests with a resolver the client starts for a
// discovery target string (a ZooKeeper connect string, zk://…?layout=…,
// livy-conf://…, static://…; see discovery.ParseTarget) and closes in
// Close.
func WithTarget(target string, opts ...discovery.ResolverOption) Option {
	return func(o *options) error { o.target, o.targetOpts = target, opts; return nil }
}

// WithEndpoints routes requests over a static list of Livy base URLs, no
// ZooKeeper. Redirects between them are followed.
func WithEndpoints(urls ...string) Option {
	return func(o *options) error { o.endpoints = append(o.endpoints, urls...); return nil }
}

// WithAuth sets the Authenticator applied per hop.
func WithAuth(a Authenticator) Option { return func(o *options) error { o.auth = a; return nil } }

// WithHTTPClient takes the underlying RoundTripper, Timeout and Jar from hc
// (default: a clone of http.DefaultTransport). Redirects are always handled
// by the HA transport, never by hc's CheckRedirect. With WithTLSConfig or
// WithCAFile, hc's Transport must be an *http.Transport (see
// WithTLSConfig).
func WithHTTPClient(hc *http.Client) Option { return func(o *options) error { o.hc = hc; return nil } }

// WithRetry sets the retry policy (default DefaultPolicy()).
func WithRetry(p retry.Policy) Option { return func(o *options) error { o.policy = p; return nil } }

// WithRetryBudget sets the retry budget (default retry.NewBudget(10, 0.1)).
// When it is exhausted, failing requests stop probing and only wait for
// the cluster view to change.
func WithRetryBudget(b *retry.Budget) Option {
	return func(o *options) error { o.budget = b; return nil }
}

// WithRequestedBy sets the X-Requested-By header Livy's CSRF filter needs
// (default "livyha").
func WithRequestedBy(s string) Option {
	return func(o *options) error { o.requestedBy = s; return nil }
}

// WithMaxRedirects sets the redirect hop limit (default 3).
func WithMaxRedirects(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("%w: negative redirect limit", ErrBadOption)
		}
		o.maxRedirects = n
		return nil
	}
}

// WithTrustedHosts lets redirects (and credentials) go to these host:port
// addresses although they are not cluster members.
func WithTrustedHosts(hostports ...string) Option {
	return func(o *options) error {
		for _, h := range hostports {
			if _, _, err := net.SplitHostPort(h); err != nil {
				return fmt.Errorf("%w: trusted host %q: want host:port", ErrBadOption, h)
			}
		}
		o.trusted = append(o.trusted, hostports...)
		return nil
	}
}

// WithLogger sets the logger (silent by default).
func WithLogger(l *slog.Logger) Option { return func(o *options) error { o.log = l; return nil } }

// WithGeneratedNames controls whether Create calls without a name get a
// unique generated one (default true). Without a name, a create whose
// outcome is unknown after a failover cannot be looked up, and is returned
// as an ErrAmbiguous error instead.
func WithGeneratedNames(on bool) Option {
	return func(o *options) error { o.generatedNames = on; return nil }
}

// WithPollInterval sets how often Wait calls poll (default 250ms).
func WithPollInterval(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: poll interval must be positive", ErrBadOption)
		}
		o.pollInterval = d
		return nil
	}
}

// New builds a client. It needs WithResolver or WithEndpoints.
func New(opts ...Option) (*Client, error) {
	o := options{
		policy:         DefaultPolicy(),
		budget:         retry.NewBudget(10, 0.1),
		requestedBy:    "livyha",
		maxRedirects:   3,
		generatedNames: true,
		pollInterval:   250 * time.Millisecond,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.log == nil {
		o.log = slog.New(discardHandler{})
	}
	var cl cluster
	n := 0
	for _, set := range []bool{o.locator != nil, len(o.endpoints) > 0, o.target != ""} {
		if set {
			n++
		}
	}
	var owned *discovery.Resolver
	switch {
	case n > 1:
		return nil, fmt.Errorf("%w: use one of WithResolver, WithTarget and WithEndpoints", ErrBadOption)
	case o.target != "":
		r, err := discovery.NewResolver(o.target, o.targetOpts...)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadOption, err)
		}
		owned = r
		cl = &resolverCluster{loc: r}
	case o.locator != nil:
		cl = &resolverCluster{loc: o.locator}
	case len(o.endpoints) > 0:
		sc, err := newStaticCluster(o.endpoints)
		if err != nil {
			return nil, err
		}
		cl = sc
	default:
		return nil, fmt.Errorf("%w: need WithResolver, WithTarget or WithEndpoints", ErrBadOption)
	}
	var base http.RoundTripper
	hc := &http.Client{}
	if o.hc != nil {
		base = o.hc.Transport
		hc.Timeout = o.hc.Timeout
		hc.Jar = o.hc.Jar
	}
	custom := base != nil
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	given := base
	base, err := o.tls.transport(base, custom)
	ownBase := !custom || base != given // a clone is ours to close
	if err != nil {
		if owned != nil {
			_ = owned.Close()
		}
		return nil, err
	}
	t := &Transport{
		base: base, cluster: cl, auth: o.auth, requestedBy: o.requestedBy,
		maxRedirects: o.maxRedirects, trusted: make(map[string]bool),
		policy: o.policy, budget: o.budget, log: o.log, hooks: o.hooks,
	}
	for _, h := range o.trusted {
		t.trusted[h] = true
	}
	hc.Transport = t
	// The transport answers redirects itself; anything else (Livy's 302 on
	// GET /) is returned as is.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c := &Client{hc: hc, transport: t, owned: owned, ownBase: ownBase, generatedNames: o.generatedNames, pollInterval: o.pollInterval, log: o.log}
	c.Sessions = &SessionsService{r: coll[Session, SessionList]{c: c, name: "sessions"}}
	c.Statements = &StatementsService{c: c}
	c.Batches = &BatchesService{r: coll[Batch, BatchList]{c: c, name: "batches"}}
	return c, nil
}

// Close releases what the client started: the resolver of WithTarget,
// the goroutine that watches the cluster view for in-flight requests (so
// call it also for a client built with WithResolver, before or after
// closing the resolver), and the idle keep-alive connections of the
// transport it made (not of one given with WithHTTPClient). Requests
// still work after Close, without being moved when the view changes.
func (c *Client) Close() error {
	if rc, ok := c.transport.cluster.(*resolverCluster); ok {
		rc.stop()
	}
	if ic, ok := c.transport.base.(interface{ CloseIdleConnections() }); ok && c.ownBase {
		ic.CloseIdleConnections()
	}
	if c.owned != nil {
		return c.owned.Close()
	}
	return nil
}

// Transport returns the client's HA transport, for use under another
// http.Client (requests may name any host, e.g. "http://livy/batches").
func (c *Client) Transport() *Transport { return c.transport }

// HTTPClient returns the http.Client the Client uses.
func (c *Client) HTTPClient() *http.Client { return c.hc }

// Version returns GET /version of the active server.
func (c *Client) Version(ctx context.Context) (*VersionInfo, error) {
	var v VersionInfo
	if err := c.do(ctx, http.MethodGet, "/version", nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// do sends one API call and decodes the JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	var data []byte
	if in != nil {
		var err error
		if data, err = json.Marshal(in); err != nil {
			return fmt.Errorf("livyclient: encoding request: %w", err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://livy"+path, body)
	if err != nil {
		return fmt.Errorf("livyclient: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if rb := c.transport.requestedBy; rb != "" {
		// Set here, on a request of our own, so that the transport need
		// not copy the headers to add it to every hop.
		req.Header.Set("X-Requested-By", rb)
	}
	editRequest(req)
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the transport's error already says what and where
		}
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("livyclient: %s %s: reading answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		ru := resp.Request.URL
		return &Error{StatusCode: resp.StatusCode, Message: parseErrorBody(raw),
			Server: hostPort(ru), Method: method, Path: path, base: &url.URL{Scheme: ru.Scheme, Host: ru.Host}}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("livyclient: %s %s: decoding answer from %s: %w", method, path, hostPort(resp.Request.URL), err)
		}
	}
	return nil
}

func newName(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

type discardHandler struct{}

func (discardHandler) Enabled(context.Context, slog.Level) bool  { return false }
func (discardHandler) Handle(context.Context, slog.Record) error { return nil }
func (d discardHandler) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discardHandler) WithGroup(string) slog.Handler           { return d }
