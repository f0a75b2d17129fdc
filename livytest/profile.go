package livytest

import (
	"fmt"
	"strings"
	"time"
)

// Profile selects which real server a Server plays: a REST surface (the
// request fields, views, error texts and version of one Livy release) and
// an HA behaviour. See the package documentation, section Profiles, and
// docs/livy-wire.md §9–§10 for what each one does and where in Livy's
// source it comes from.
//
// A profile is one of the names below, or an HA behaviour and a release
// joined by "+" ("stock+livy-0.7", "livyha+livy-0.8"). A bare release
// ("livy-0.8") is that release as Apache ships it, which is "stock" HA.
type Profile string

const (
	// ProfileLivyHA (the default, also ""): livyha's own HA — the
	// discovery.Register registrar, Config.Mode, fenced commits, recovered
	// sessions usable at once, no session GC — with the livy-0.9 surface.
	// It is KINDER THAN ANY LIVY (see the package documentation).
	ProfileLivyHA Profile = "livyha"
	// ProfilePR212 is Livy as PR #212 (LIVY-11, refs/pull/212/head
	// cbdaaafa) builds it: its 0.8.0-incubating-SNAPSHOT base has the 0.7
	// REST surface; HA is a Curator latch at /<key prefix>/leader with
	// string ids, hosts from livy.conf, 307s from a filter behind the
	// authentication and CSRF filters, a restart of the REST server on
	// every takeover and no fencing.
	ProfilePR212 Profile = "pr212"
	// ProfileStock is upstream Livy with livy.server.recovery.mode =
	// recovery and the ZooKeeper state store (livy-0.9 surface): no HA, no
	// redirect; a (re)started server recovers every session from the
	// store, as "recovering" until its driver reconnects.
	ProfileStock Profile = "stock"
	// The REST surfaces of the three releases (stock HA).
	ProfileLivy07 Profile = "livy-0.7"
	ProfileLivy08 Profile = "livy-0.8"
	ProfileLivy09 Profile = "livy-0.9"
)

// haKind is a profile's HA behaviour.
type haKind int

const (
	haLivyHA haKind = iota // livyha's registrar (Config.Mode)
	haPR212                // PR #212's latch, filter and restarts
	haStock                // upstream: recovery from the store, no HA
)

func (h haKind) String() string {
	switch h {
	case haPR212:
		return "pr212"
	case haStock:
		return "stock"
	}
	return "livyha"
}

// surface is what differs between Livy releases on the REST API.
type surface struct {
	name    string // "livy-0.7", ..., "pr212"
	version string // GET /version "version"

	// Request fields of CreateInteractiveRequest beyond 0.7's (Jackson
	// rejects the others with 400 Unrecognized field).
	ttl         bool // 0.8+ (CreateInteractiveRequest.scala@0.8:38)
	idleTimeout bool // 0.9+ (@0.9:39)

	// The interactive session view (HttpMessages.SessionInfo): 0.7 has 9
	// fields (HttpMessages.java@0.7:53-63); 0.8 adds 13 (ttl and the
	// request's settings, @0.8:64-76) and fills ttl with the proxyUser
	// (InteractiveSessionServlet.scala@0.8:95-103); 0.9 adds idleTimeout
	// and fills both correctly (@0.9:119-127).
	sessionInfo   int  // 9, 22 or 23 fields
	ttlProxyUser  bool // 0.8's bug
	executorLogs  bool // appInfo.executorLogUrls (SparkApp.scala@0.9:27,33)
	rejected      bool // "Rejected, Reason: " on create errors (SessionServlet.scala@0.8:142-145)
	statementSort bool // ?order=desc on GET /sessions/{id}/statements (InteractiveSessionServlet.scala@0.8:122-127)
	// The GC of 0.8 treats ttl as an idle timeout; 0.9 has idleTimeout
	// for that and ttl (off by default, livy.server.session.ttl-check) as
	// a lifetime (SessionManager.scala@0.8:173-178, @0.9:177-195).
	gcTTLIsIdle bool
}

var (
	surface07 = surface{name: string(ProfileLivy07), version: "0.7.0-incubating", sessionInfo: 9}
	surface08 = surface{name: string(ProfileLivy08), version: "0.8.0-incubating", ttl: true,
		sessionInfo: 22, ttlProxyUser: true, rejected: true, statementSort: true, gcTTLIsIdle: true}
	surface09 = surface{name: string(ProfileLivy09), version: "0.9.0-incubating", ttl: true, idleTimeout: true,
		sessionInfo: 23, executorLogs: true, rejected: true, statementSort: true}
	// PR #212's head is based on f4ab5ef5 (Feb 2020), whose servlets,
	// request classes and HttpMessages are 0.7's; pom.xml says
	// 0.8.0-incubating-SNAPSHOT.
	surfacePR212 = func() surface {
		s := surface07
		s.name, s.version = string(ProfilePR212), "0.8.0-incubating-SNAPSHOT"
		return s
	}()
)

// LivyVersion is what GET /version and the server record report in the
// default profile (livyha, with the livy-0.9 surface).
const LivyVersion = "0.9.0-incubating"

// profileSpec is a parsed Profile.
type profileSpec struct {
	name string
	ha   haKind
	surf surface
}

// parseProfile parses a Profile ("" is ProfileLivyHA).
func parseProfile(p Profile) (profileSpec, error) {
	s := strings.TrimSpace(string(p))
	if s == "" {
		s = string(ProfileLivyHA)
	}
	haPart, relPart, joined := strings.Cut(s, "+")
	rel := func(name string) (surface, bool) {
		switch Profile(name) {
		case ProfileLivy07:
			return surface07, true
		case ProfileLivy08:
			return surface08, true
		case ProfileLivy09:
			return surface09, true
		}
		return surface{}, false
	}
	bad := func() (profileSpec, error) {
		return profileSpec{}, fmt.Errorf("livytest: unknown profile %q (want livyha, pr212, stock, livy-0.7, livy-0.8, livy-0.9, or stock+livy-0.X / livyha+livy-0.X)", string(p))
	}
	var spec profileSpec
	switch Profile(haPart) {
	case ProfileLivyHA:
		spec = profileSpec{ha: haLivyHA, surf: surface09}
	case ProfileStock:
		spec = profileSpec{ha: haStock, surf: surface09}
	case ProfilePR212:
		if joined {
			return profileSpec{}, fmt.Errorf("livytest: profile %q: PR #212 has its own REST surface (0.7's); use plain pr212", string(p))
		}
		spec = profileSpec{ha: haPR212, surf: surfacePR212}
	default:
		sf, ok := rel(haPart)
		if !ok || joined {
			return bad()
		}
		spec = profileSpec{ha: haStock, surf: sf}
	}
	if joined {
		sf, ok := rel(relPart)
		if !ok {
			return bad()
		}
		spec.surf = sf
	}
	spec.name = spec.ha.String() + "+" + spec.surf.name
	if spec.ha == haPR212 {
		spec.name = string(ProfilePR212)
	}
	return spec, nil
}

// ParseProfile checks a profile name and returns it in canonical form
// ("<ha>+<release>", e.g. "stock+livy-0.8" for "livy-0.8"; "pr212"
// stays "pr212"); for command-line flags.
func ParseProfile(s string) (Profile, error) {
	spec, err := parseProfile(Profile(s))
	if err != nil {
		return "", err
	}
	return Profile(spec.name), nil
}

// Version returns what GET /version reports in this profile ("" when the
// profile does not parse).
func (p Profile) Version() string {
	spec, err := parseProfile(p)
	if err != nil {
		return ""
	}
	return spec.surf.version
}

// Timeouts are Livy's session timers, in Livy time: one Config.Step
// stands for one second of it (so at the default Step of 50ms Livy's hour
// of session timeout lasts 3 minutes, and its GC runs every 3 seconds).
// They apply in the Livy profiles (pr212, stock and the bare releases);
// the livyha profile has no GC and no heartbeat watchdog unless GC is set
// to true. Zero fields take Livy's defaults.
type Timeouts struct {
	// GC turns the timers on in the livyha profile (they are always on in
	// the others).
	GC bool
	// SessionTimeout is livy.server.session.timeout (1h): an interactive
	// session idle for longer is deleted by the GC, unless its request set
	// an idle timeout of its own (ttl on 0.8, idleTimeout on 0.9). Negative:
	// livy.server.session.timeout-check = false.
	SessionTimeout time.Duration
	// StateRetain is livy.server.session.state-retain.sec (600s): how long
	// a finished session or batch (success, dead, killed, error) stays
	// listed before the GC deletes it.
	StateRetain time.Duration
	// GCInterval is how often the GC runs (Livy: 60s, fixed;
	// SessionManager.scala@0.9:232-240).
	GCInterval time.Duration
	// HeartbeatInterval is livy.server.heartbeat-watchdog.interval (1m):
	// how often sessions whose heartbeatTimeoutInSecond passed without a
	// request naming them are deleted.
	HeartbeatInterval time.Duration
	// TTLCheck and TTL are 0.9's livy.server.session.ttl-check (false) and
	// livy.server.session.ttl (8h): with the check on, a session older than
	// its ttl (or TTL) is deleted.
	TTLCheck bool
	TTL      time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&t.SessionTimeout, time.Hour)
	def(&t.StateRetain, 600*time.Second)
	def(&t.GCInterval, 60*time.Second)
	def(&t.HeartbeatInterval, time.Minute)
	def(&t.TTL, 8*time.Hour)
	return t
}

// livyTime converts a duration of Livy time into wall time at step.
func livyTime(d, step time.Duration) time.Duration {
	return time.Duration(float64(d) * float64(step) / float64(time.Second))
}
