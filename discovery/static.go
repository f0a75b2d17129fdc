package discovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/livyha/livyha/discovery/layout"
	"github.com/livyha/livyha/retry"
)

// This file is the static-list source (static://h1:8998,h2:8998): for
// clusters whose leader cannot be read from ZooKeeper (Cloudera CDP's
// livy.server.recovery.mode=ha, or any list of Livy URLs). It learns the
// leader by asking the servers themselves, with one cheap GET /version
// each, and then stays quiet: in steady state it sends nothing at all, and
// client requests cost no probes. It probes again when a client reports
// evidence of a stale view (Refresh), and on a backoff timer while no
// leader is known or while a failover is in progress.

const (
	// staticProbeTimeout bounds one probe when the caller's client has no
	// timeout of its own (it is also the default client's timeout).
	staticProbeTimeout = 2 * time.Second
	// staticBodyLimit bounds how much of a probe's body is read: enough
	// for Livy's /version JSON and its standby text, little enough that a
	// misbehaving server cannot make the probe read forever.
	staticBodyLimit = 4 << 10
	// staticMaxLearned bounds the servers outside the list that the source
	// remembers, so that listed servers naming ever new hosts cannot grow
	// the snapshot without bound.
	staticMaxLearned = 16
	// staticBackoffMin and staticBackoffMax bound the re-probe delay while
	// no leader is known.
	staticBackoffMin = 100 * time.Millisecond
	staticBackoffMax = 5 * time.Second
)

// staticEndpoint is one server the source probes.
type staticEndpoint struct {
	name     string // host:port, also Server.Name
	url      string // base URL, scheme://host:port[/base]
	scheme   string
	hostPort string
	seq      int64 // list index; -1 for a server learned from a redirect
}

func (e *staticEndpoint) server() Server {
	return Server{ServerRecord: ServerRecord{ID: -1, URL: e.url}, Name: e.name, HostPort: e.hostPort, Sequence: e.seq}
}

// staticOutcome is what one probe says about a server.
type staticOutcome int

const (
	// staticDown: no answer, or 5xx.
	staticDown staticOutcome = iota
	// staticServing: 2xx; the server serves requests itself.
	staticServing
	// staticAnswering: 401, 403 or 404; the server is up and does not
	// redirect, but it may be a passive whose authentication or access
	// filter answers before its standby redirect (PR #212 does that; see
	// docs/design.md), so it is weaker evidence than a 2xx or a vote.
	staticAnswering
	// staticRedirect: 307 or 308; a passive, naming the active in Location.
	staticRedirect
	// staticOdd: any other status; the server is up but the answer tells
	// nothing about its role.
	staticOdd
)

// staticProbe is one probe's outcome.
type staticProbe struct {
	kind    staticOutcome
	named   *staticEndpoint // staticRedirect: the trusted server the Location names, if any
	detail  string          // short outcome for the no-leader error: "connection refused", "500", "307 to h:1"
	problem string          // non-empty: reported as a Problem of the endpoint
}

func (r staticProbe) answered() bool { return r.kind == staticServing || r.kind == staticAnswering }

// staticSource is the static-list Source.
type staticSource struct {
	listed   []*staticEndpoint
	dups     []Problem // entries listed twice, reported with every State
	hc       *http.Client
	own      *http.Transport // the default client's transport, closed with the source; nil for the caller's
	timeout  time.Duration
	log      *slog.Logger
	desc     string
	pub      Publisher
	poke     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	ctx      context.Context // cancelled by Close, ending probes in flight
	cancel   context.CancelFunc

	// Owned by the run goroutine.
	learned []*staticEndpoint // servers outside the list that a listed passive named
	leader  string            // the last round's leader
}

// newStaticSource returns the source of a static:// target: a fixed list
// of Livy base URLs probed with GET <base>/version.
//
// Every listed server is a cluster member, so the client follows
// redirects between them. The leader is, in this order of preference:
//
//  1. the first listed server that answers 2xx: it serves requests itself;
//  2. the server the listed passives (307/308 answers) name in their
//     Location, by most votes, ties broken by list order, provided that its
//     own probe answers 2xx, 401, 403 or 404;
//  3. a server learned in an earlier round (see below) that still answers
//     2xx, when no listed passive is left to name it;
//  4. the first listed server that answers 401, 403 or 404.
//
// A 401, 403 or 404 means the server is up and does not redirect, but not
// that it is the active one: PR #212 passives authenticate before they
// redirect, so without credentials in the probe client a passive answers
// 401 too. That is why a redirect's vote outranks it, and why it is the
// last resort. Other answers (5xx, connection failures, other statuses)
// never make a leader.
//
// A listed server is trusted: a server it names as active in its
// Location (scheme://host:port, with the base path that precedes
// "/version" in it) is added to Servers as a member, named host:port,
// even when it is not in the list, because the passives will redirect
// clients there and clients follow redirects only to members. It stays
// while a listed server names it or while it answers its own probe. A
// Location that is not absolute http(s), carries userinfo, or downgrades
// https to http is never trusted; it is reported in Snapshot.Problems.
//
// The probe client is a copy of the WithHTTPClient client (default: 2 s
// timeout, no keep-alives) whose CheckRedirect never follows, so 307s are
// seen; the caller's client is not modified.
func newStaticSource(endpoints []string, cfg config) (Source, error) {
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("%w: empty static list", ErrBadTarget)
	}
	s := &staticSource{log: cfg.log, timeout: staticProbeTimeout,
		poke: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	seen := make(map[string]bool, len(endpoints))
	names := make([]string, 0, len(endpoints))
	for _, raw := range endpoints {
		ep, err := staticEndpointFor(raw, int64(len(s.listed)))
		if err != nil {
			return nil, fmt.Errorf("%w: static endpoint: %w", ErrBadTarget, err)
		}
		if seen[ep.name] {
			s.dups = append(s.dups, Problem{Path: ep.url, Reason: "listed twice; probed once"})
			continue
		}
		seen[ep.name] = true
		s.listed = append(s.listed, ep)
		names = append(names, ep.name)
	}
	s.desc = "static list " + strings.Join(names, ",")
	if cfg.httpClient != nil {
		c := *cfg.httpClient // a copy: the caller's CheckRedirect stays as it is
		s.hc = &c
		if c.Timeout > 0 {
			s.timeout = c.Timeout
		}
	} else {
		// Keep-alives off: probes are rare, so idle connections would only
		// hold goroutines and descriptors, and a fresh dial is what tells
		// whether a server accepts the client's new connections.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DisableKeepAlives = true
		s.own = tr
		s.hc = &http.Client{Transport: tr, Timeout: staticProbeTimeout}
	}
	s.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// staticEndpointFor checks a base URL and describes it.
func staticEndpointFor(raw string, seq int64) (*staticEndpoint, error) {
	raw = strings.TrimSuffix(raw, "/")
	host, port, err := layout.URLHostPort(raw)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(raw) // parsed by URLHostPort already
	hp := net.JoinHostPort(host, strconv.Itoa(port))
	return &staticEndpoint{name: hp, url: raw, scheme: u.Scheme, hostPort: hp, seq: seq}, nil
}

func (s *staticSource) mode() Mode       { return ActivePassive }
func (s *staticSource) describe() string { return s.desc }

func (s *staticSource) Start(p Publisher) {
	s.pub = p
	go s.run()
}

// Refresh asks for a probe round. Calls while a round is pending coalesce:
// at most one round runs at a time, and at most one more is queued.
func (s *staticSource) Refresh() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// Close stops the source and waits for the round in flight, whose probes
// end at once (their context is cancelled) or at their timeout.
func (s *staticSource) Close() {
	s.stopOnce.Do(func() {
		close(s.stop)
		s.cancel()
		if s.pub != nil {
			<-s.done
		}
		if s.own != nil {
			s.own.CloseIdleConnections()
		}
	})
}

func (s *staticSource) run() {
	defer close(s.done)
	var (
		attempt int
		timer   *time.Timer
		retryC  <-chan time.Time
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		st, flux := s.round(s.ctx)
		select {
		case <-s.stop:
			return // a round cut short by Close is not published
		default:
		}
		s.pub.Publish(st)
		retryC = nil
		if flux {
			d := staticBackoff(attempt)
			attempt++
			if st.Leader == "" {
				s.log.Warn("discovery: static list has no leader; probing again", "err", st.NoLeader, "in", d)
			} else {
				s.log.Info("discovery: static list leader changed; probing again to confirm", "leader", st.Leader, "in", d)
			}
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			retryC = timer.C
		} else {
			attempt = 0
		}
		select {
		case <-s.stop:
			return
		case <-s.poke:
		case <-retryC:
		}
	}
}

// staticBackoff is capped exponential backoff with jitter: a delay in
// [100ms, min(200ms·2^attempt, 5s)), so that many clients whose cluster
// lost its leader at once do not probe in lockstep.
func staticBackoff(attempt int) time.Duration {
	ceil := min(2*staticBackoffMin<<min(attempt, 6), staticBackoffMax)
	return staticBackoffMin + rand.N(ceil-staticBackoffMin)
}

// round probes every server once and builds the State. flux reports that
// the view is not settled (no leader, or the previous leader failed its
// probe), so another round should follow on the backoff timer.
func (s *staticSource) round(ctx context.Context) (st State, flux bool) {
	start := time.Now()
	all := make([]*staticEndpoint, 0, len(s.listed)+len(s.learned))
	all = append(all, s.listed...)
	all = append(all, s.learned...)
	res := s.probeAll(ctx, all)
	index := make(map[string]int, len(all))
	for i, ep := range all {
		index[ep.name] = i
	}

	// Votes of the listed passives. Servers they name that were not probed
	// yet are learned, and probed now.
	votes := make([]int, len(all))
	var fresh []*staticEndpoint
	var problems []Problem
	for i := range s.listed {
		n := res[i].named
		if n == nil {
			continue
		}
		j, ok := index[n.name]
		if !ok {
			if len(s.learned)+len(fresh) >= staticMaxLearned {
				problems = append(problems, Problem{Path: all[i].url,
					Reason: "names " + n.name + " as active, but " + strconv.Itoa(staticMaxLearned) + " servers outside the list are known already; ignored"})
				continue
			}
			j = len(all) + len(fresh)
			index[n.name] = j
			fresh = append(fresh, n)
			votes = append(votes, 0)
		}
		votes[j]++
	}
	if len(fresh) > 0 {
		all = append(all, fresh...)
		res = append(res, s.probeAll(ctx, fresh)...)
	}

	nl := len(s.listed)
	leader := -1
	for i := 0; i < nl && leader < 0; i++ { // 1. a listed server that serves
		if res[i].kind == staticServing {
			leader = i
		}
	}
	if leader < 0 { // 2. the server most passives name
		for i := range all {
			if votes[i] > 0 && res[i].answered() && (leader < 0 || votes[i] > votes[leader]) {
				leader = i
			}
		}
	}
	for i := nl; i < len(all) && leader < 0; i++ { // 3. a learned server that still serves
		if res[i].kind == staticServing {
			leader = i
		}
	}
	for i := 0; i < nl && leader < 0; i++ { // 4. a listed server that answers
		if res[i].kind == staticAnswering {
			leader = i
		}
	}

	// Learned servers stay while a listed server vouches for them or they
	// answer themselves.
	learned := s.learned[:0:0]
	for i := nl; i < len(all); i++ {
		if votes[i] > 0 || res[i].answered() {
			learned = append(learned, all[i])
		}
	}

	st = State{Mode: ActivePassive, Elected: true, Source: s.desc}
	st.Problems = append(st.Problems, s.dups...)
	st.Servers = make([]Server, 0, nl+len(learned))
	for i := range s.listed {
		st.Servers = append(st.Servers, all[i].server())
	}
	for _, ep := range learned {
		st.Servers = append(st.Servers, ep.server())
	}
	for i, ep := range all {
		if res[i].problem != "" {
			st.Problems = append(st.Problems, Problem{Path: ep.url, Reason: res[i].problem})
		}
	}
	st.Problems = append(st.Problems, problems...)
	if leader >= 0 {
		st.Leader = all[leader].name
	} else {
		var b strings.Builder
		b.WriteString("discovery: no leader among static list ")
		for i, ep := range all {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(ep.name + " (" + res[i].detail + ")")
		}
		st.NoLeader = wrapf(ErrNoLeader, b.String())
		if !slices.ContainsFunc(res, func(r staticProbe) bool { return r.answered() || r.kind == staticRedirect || r.kind == staticOdd }) {
			// Nobody answered at all: an outage, not a cluster without a
			// leader.
			st.NoLeader = &bothErr{msg: b.String(), errs: []error{ErrNoLeader, ErrUnavailable}}
		}
	}

	// A failover is in progress when the previous leader did not answer:
	// probe again soon even if another server was picked, until a round
	// confirms the new view.
	prevFailed := false
	if s.leader != "" {
		j, ok := index[s.leader]
		prevFailed = !ok || !res[j].answered()
	}
	flux = st.Leader == "" || prevFailed
	if st.Leader != s.leader {
		s.log.Info("discovery: static list leader", "leader", st.Leader, "was", s.leader)
	}
	s.log.Debug("discovery: static list probed", "servers", len(all), "leader", st.Leader, "took", time.Since(start))
	s.learned, s.leader = learned, st.Leader
	return st, flux
}

// probeAll probes eps concurrently.
func (s *staticSource) probeAll(ctx context.Context, eps []*staticEndpoint) []staticProbe {
	res := make([]staticProbe, len(eps))
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = s.probe(ctx, ep)
		}()
	}
	wg.Wait()
	return res
}

// probe sends GET <base>/version to ep and classifies the answer.
func (s *staticSource) probe(ctx context.Context, ep *staticEndpoint) staticProbe {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.url+"/version", nil)
	if err != nil {
		return staticProbe{kind: staticDown, detail: err.Error()}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.hc.Do(req)
	if err != nil {
		return staticProbe{kind: staticDown, detail: staticErrText(err)}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, staticBodyLimit))
	resp.Body.Close()
	code := resp.StatusCode
	status := strconv.Itoa(code)
	switch {
	case code >= 200 && code < 300:
		return staticProbe{kind: staticServing, detail: status}
	case code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusNotFound:
		return staticProbe{kind: staticAnswering, detail: status}
	case code == http.StatusTemporaryRedirect || code == http.StatusPermanentRedirect:
		r := staticProbe{kind: staticRedirect}
		if retry.IsStandby(code, body) {
			status += " standby"
		}
		named, why := staticRedirectTarget(ep, resp)
		if named == nil {
			r.detail = status + " to an untrusted Location"
			r.problem = why
			if why == "" {
				r.detail = status + " without Location"
				r.problem = "answered " + strconv.Itoa(code) + " without a Location"
			}
			return r
		}
		r.named, r.detail = named, status+" to "+named.name
		return r
	case code >= 500:
		if retry.IsStandby(code, body) {
			status += " standby"
		}
		return staticProbe{kind: staticDown, detail: status}
	default:
		return staticProbe{kind: staticOdd, detail: status,
			problem: "GET /version answered " + status + ", which says neither active nor passive"}
	}
}

// staticRedirectTarget returns the server a passive's Location names, or nil
// and why it is not trusted ("" when there is no Location at all). Reasons
// never echo a Location that may carry credentials.
func staticRedirectTarget(from *staticEndpoint, resp *http.Response) (*staticEndpoint, string) {
	if resp.Header.Get("Location") == "" {
		return nil, ""
	}
	loc, err := resp.Location() // resolved against the probe's URL
	if err != nil {
		return nil, "redirects to a Location that does not parse; not trusted"
	}
	// Only the scheme and host are ever quoted: userinfo, path and query
	// can carry credentials.
	shown := strconv.Quote((&url.URL{Scheme: loc.Scheme, Host: loc.Host}).String())
	switch {
	case loc.Scheme != "http" && loc.Scheme != "https":
		return nil, "redirects to " + shown + ", not http(s); not trusted"
	case loc.User != nil:
		return nil, "redirects to " + shown + " with userinfo; not trusted"
	case loc.Host == "":
		return nil, "redirects to a Location without a host; not trusted"
	case from.scheme == "https" && loc.Scheme != "https":
		return nil, "redirects from https to " + shown + "; not trusted"
	}
	// The base path is what precedes the probed "/version"; a Location that
	// does not end so names the server's root.
	base := ""
	if p := loc.EscapedPath(); strings.HasSuffix(p, "/version") {
		base = strings.TrimSuffix(p, "/version")
	}
	ep, err := staticEndpointFor((&url.URL{Scheme: loc.Scheme, Host: loc.Host}).String()+base, -1)
	if err != nil {
		return nil, "redirects to " + strconv.Quote(loc.Redacted()) + ": " + err.Error() + "; not trusted"
	}
	return ep, ""
}

// staticErrText is a short, stable description of a failed probe (no
// ephemeral ports, so that repeated failures build the same snapshot).
func staticErrText(err error) string {
	var dns *net.DNSError
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return "no such host"
		}
		return "DNS: " + dns.Err
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
