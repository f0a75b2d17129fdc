package thrift

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/beltran/gohive"
)

// ErrBadAuth: an authentication mode gohive v1 does not know (it would
// panic on it).
var ErrBadAuth = errors.New("thrift: unsupported gohive auth mode")

// ErrOpenSession: the server completed the transport handshake but refused
// to open a session (gohive v1 does not check this itself).
var ErrOpenSession = errors.New("thrift: server refused to open a session")

var gohiveAuths = map[string]bool{"NOSASL": true, "NONE": true, "LDAP": true, "CUSTOM": true, "KERBEROS": true, "DIGEST-MD5": true}

// ConnectHive opens a gohive v1 connection to the first candidate that
// accepts it: each attempt is a whole gohive.Connect (transport, SASL,
// OpenSession), so every way a passive server refuses — refused, reset,
// closed after accept, failed SASL or OpenSession — moves on to the next
// candidate. cfg is not modified; settings it leaves unset (TransportMode,
// HTTPPath; gohive's defaults count as unset) are filled from what the
// candidate published, as Hive's JDBC driver does. auth is gohive's
// ("NOSASL", "NONE", "LDAP", "CUSTOM", "KERBEROS", "DIGEST-MD5").
func ConnectHive(ctx context.Context, loc *Locator, auth string, cfg *gohive.ConnectConfiguration) (*gohive.Connection, error) {
	if !gohiveAuths[auth] {
		return nil, fmt.Errorf("%w: %q", ErrBadAuth, auth)
	}
	if cfg == nil {
		cfg = gohive.NewConnectConfiguration()
	}
	if cfg.TransportMode != "" && cfg.TransportMode != "binary" && cfg.TransportMode != "http" {
		return nil, fmt.Errorf("thrift: unsupported transport mode %q (want binary or http)", cfg.TransportMode)
	}
	h, err := rounds(ctx, loc, func(actx context.Context, c Candidate) (*hiveConn, error) {
		return connectOne(actx, loc, c, auth, cfg)
	}, (*hiveConn).closeSoon)
	if err != nil {
		return nil, err
	}
	return h.conn, nil
}

// hiveConn is a gohive connection with the sockets it dialed.
type hiveConn struct {
	conn *gohive.Connection
	nets func() []net.Conn
}

// closeSoon closes a connection that lost the race without letting a hung
// server hold the goroutine: its sockets get a short deadline first.
func (h *hiveConn) closeSoon() {
	for _, nc := range h.nets() {
		_ = nc.SetDeadline(time.Now().Add(time.Second))
	}
	_ = h.conn.Close()
}

// connectOne runs gohive.Connect against one candidate, bounded by ctx:
// the connections it dials are closed when ctx ends, which unblocks
// gohive (its own calls take no context).
func connectOne(ctx context.Context, loc *Locator, c Candidate, auth string, base *gohive.ConnectConfiguration) (hc *hiveConn, err error) {
	host, portStr, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return nil, fmt.Errorf("bad address: %w", err)
	}
	var port int
	if _, err := fmt.Sscanf(portStr, "%d", &port); err != nil {
		return nil, fmt.Errorf("bad port %q", portStr)
	}
	cfg := *base // gohive writes into its configuration
	if cfg.HiveConfiguration != nil {
		m := make(map[string]string, len(base.HiveConfiguration))
		for k, v := range base.HiveConfiguration {
			m[k] = v
		}
		cfg.HiveConfiguration = m
	}
	// Settings the candidate published fill those the caller left unset.
	// gohive.NewConnectConfiguration's defaults ("binary", "cliservice")
	// count as unset: they cannot be told from explicit choices, and an
	// endpoint only speaks the transport it published.
	if c.TransportMode == "binary" || c.TransportMode == "http" {
		if cfg.TransportMode == "" || cfg.TransportMode == "binary" {
			cfg.TransportMode = c.TransportMode
		}
	}
	if cfg.TransportMode == "" {
		cfg.TransportMode = "binary"
	}
	if p := strings.TrimPrefix(c.HTTPPath, "/"); p != "" && (cfg.HTTPPath == "" || cfg.HTTPPath == "cliservice") {
		cfg.HTTPPath = p
	}
	if cfg.HTTPPath == "" {
		cfg.HTTPPath = "cliservice"
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = loc.dialTimeout
	}
	// Track the connections gohive dials for this attempt, to cut them
	// when the attempt is abandoned, and to bound the handshake.
	var mu sync.Mutex
	var conns []net.Conn
	done, established := false, false
	userDial := base.DialContext
	cfg.DialContext = func(dctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		later := established
		mu.Unlock()
		if later {
			// A connection made after this attempt succeeded (http mode
			// dials on demand): not bound to the attempt.
			if userDial != nil {
				return userDial(dctx, network, addr)
			}
			d := net.Dialer{Timeout: max(loc.dialTimeout, 0)}
			return d.DialContext(dctx, network, addr)
		}
		var nc net.Conn
		var err error
		if userDial != nil {
			nc, err = userDial(ctx, network, addr)
		} else {
			d := net.Dialer{Timeout: max(loc.dialTimeout, 0)}
			nc, err = d.DialContext(ctx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if done {
			nc.Close()
			return nil, context.Canceled
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = nc.SetDeadline(dl) // the handshake; cleared on success
		}
		conns = append(conns, nc)
		return nc, nil
	}
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		done = true
		for _, nc := range conns {
			nc.Close()
		}
	})
	defer func() {
		if r := recover(); r != nil { // gohive panics on some bad settings
			err = fmt.Errorf("gohive: %v", r)
			hc = nil
		}
	}()
	conn, err := gohive.Connect(host, port, auth, &cfg)
	if !stop() {
		// ctx ended: the attempt is abandoned.
		if conn != nil {
			_ = conn.Close()
		}
		if err == nil {
			err = ctx.Err()
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if !sessionOpened(conn) {
		_ = conn.Close()
		return nil, ErrOpenSession
	}
	mu.Lock()
	established = true
	for _, nc := range conns {
		_ = nc.SetDeadline(time.Time{})
	}
	mu.Unlock()
	return &hiveConn{conn: conn, nets: func() []net.Conn {
		mu.Lock()
		defer mu.Unlock()
		return append([]net.Conn(nil), conns...)
	}}, nil
}

// sessionOpened reports whether gohive got a session handle: gohive v1
// returns a Connection even when OpenSession failed, with a nil handle.
func sessionOpened(c *gohive.Connection) bool {
	v := reflect.ValueOf(c).Elem().FieldByName("sessionHandle")
	return v.IsValid() && v.Kind() == reflect.Pointer && !v.IsNil()
}

// DialContext returns a function for gohive's ConnectConfiguration
// .DialContext that dials the locator's first accepting candidate,
// whatever host gohive was given.
func DialContext(loc *Locator) gohive.DialContextFunc {
	return loc.DialContext
}
