// Package hs2test runs a small HiveServer2 (TCLIService) Thrift server for
// tests, the way net/http/httptest runs an HTTP server: just enough of
// HiveServer2 for the gohive v1 client (and any TCLIService client that
// speaks protocol V6+ with columnar result sets) to open a session, run a
// statement and fetch its rows.
//
// Transports, as HiveServer2 frames them:
//
//   - "NOSASL": TBinaryProtocol straight on the TCP stream, unframed (gohive:
//     TBufferedTransport over a TSocket, auth "NOSASL").
//   - "NONE": SASL PLAIN over Thrift's TSaslTransport framing (gohive auth
//     "NONE"): the client sends START(1)+"PLAIN" and OK(2)+"authzid\0user\0pass",
//     each as 1 status byte, a 4-byte big-endian length and the payload; the
//     server answers COMPLETE(5) (or BAD(3) with a message, then closes).
//     Every Thrift message after that is one frame: 4-byte length + bytes.
//   - "HTTP": each Thrift call is one POST to /<HTTPPath> with a
//     TBinaryProtocol body (gohive TransportMode "http", auth "NONE"); the
//     credentials come as HTTP basic auth.
//
// A server can play a passive (standby) Livy server: Config.Active decides,
// per connection at accept time, whether it serves or refuses (see Refusal).
//
// Statements understood: SELECT with a list of literals (integers, quoted
// strings, true/false) and the functions current_server() (Config.Name),
// current_user() and current_database(), each with an optional [AS] alias;
// USE <db>; SET k=v. Anything else fails as a Hive compile error.
package hs2test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/beltran/gohive/hiveserver"
)

// StandbyMessage is the error a passive server gives (RefuseOpenSession).
const StandbyMessage = "This is a standby Livy instance"

// Auth modes (Config.Auth).
const (
	AuthNoSASL = "NOSASL" // plain binary TBinaryProtocol
	AuthNone   = "NONE"   // binary, SASL PLAIN
	AuthHTTP   = "HTTP"   // Thrift over HTTP, basic auth
)

// DefaultHTTPPath is the HTTP path when Config.HTTPPath is empty (Hive's
// hive.server2.thrift.http.path default).
const DefaultHTTPPath = "cliservice"

// Refusal is how a passive server refuses a client.
type Refusal int

const (
	// RefuseClose accepts the TCP connection and closes it at once, before
	// reading or writing a byte.
	RefuseClose Refusal = iota
	// RefuseOpenSession completes the transport handshake (SASL included),
	// then answers OpenSession with ERROR_STATUS and StandbyMessage, the
	// way HiveServer2 reports a failed OpenSession. Any later call on that
	// connection, and any call other than OpenSession while the server is
	// passive, gets a Thrift TApplicationException carrying StandbyMessage
	// (gohive v1's Connect ignores the OpenSession status, so with gohive
	// the refusal surfaces at the first statement).
	RefuseOpenSession
)

func (r Refusal) String() string {
	switch r {
	case RefuseClose:
		return "close"
	case RefuseOpenSession:
		return "opensession"
	}
	return fmt.Sprintf("Refusal(%d)", int(r))
}

// Config configures a Server. The zero value is an always-active NOSASL
// server on a random loopback port.
type Config struct {
	// Addr is the listen address (default "127.0.0.1:0").
	Addr string
	// Auth is AuthNoSASL (default), AuthNone (SASL PLAIN) or AuthHTTP.
	Auth string
	// User and Password, when User is set, must match the SASL PLAIN or
	// HTTP basic credentials, else the handshake fails (SASL: BAD status;
	// HTTP: 401). Unset: any credentials are accepted. NOSASL never checks.
	User, Password string
	// HTTPPath is the path of the Thrift HTTP endpoint (default
	// DefaultHTTPPath), with or without a leading slash.
	HTTPPath string
	// Active reports whether the server serves; nil means always. It is
	// called for each accepted connection (and HTTP connection), and with
	// RefuseOpenSession also at each OpenSession and each later call.
	Active func() bool
	// Refusal is how a passive server refuses (default RefuseClose).
	Refusal Refusal
	// Name identifies the server: SELECT current_server() returns it.
	Name string
	// Logger receives debug logs; silent by default.
	Logger *slog.Logger
}

// Stats counts what a Server has seen.
type Stats struct {
	Accepted   int64 // TCP connections accepted
	Refused    int64 // connections closed by RefuseClose + OpenSessions refused
	Sessions   int64 // sessions opened
	Statements int64 // statements executed (successfully or not)
}

// Server is a running HiveServer2 stand-in.
type Server struct {
	cfg   Config
	log   *slog.Logger
	ln    net.Listener
	addr  string
	tconf *thrift.TConfiguration
	hs    *http.Server // AuthHTTP only
	ctx   context.Context
	stop  context.CancelFunc

	accepted, refused, sessions, statements atomic.Int64

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{} // binary connections being served
	wg     sync.WaitGroup        // accept loop / HTTP Serve, and every connection

	st state

	closeOnce sync.Once
	closeErr  error
}

// Start starts a server listening on cfg.Addr.
func Start(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	switch a := strings.ToUpper(strings.TrimSpace(cfg.Auth)); a {
	case "":
		cfg.Auth = AuthNoSASL
	case AuthNoSASL, AuthNone, AuthHTTP:
		cfg.Auth = a
	default:
		return nil, fmt.Errorf("hs2test: unknown auth %q (want NOSASL, NONE or HTTP)", cfg.Auth)
	}
	if cfg.Refusal != RefuseClose && cfg.Refusal != RefuseOpenSession {
		return nil, fmt.Errorf("hs2test: unknown refusal %v", cfg.Refusal)
	}
	cfg.HTTPPath = strings.Trim(cfg.HTTPPath, "/")
	if cfg.HTTPPath == "" {
		cfg.HTTPPath = DefaultHTTPPath
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(discardHandler{})
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("hs2test: %w", err)
	}
	s := &Server{
		cfg:  cfg,
		log:  logger.With("server", cfg.Name),
		ln:   ln,
		addr: advertised(ln.Addr()),
		tconf: &thrift.TConfiguration{
			// gohive writes strict messages; strict reads make a SASL
			// client talking to a NOSASL server fail at once instead of
			// waiting for a 16 MB "method name".
			TBinaryStrictRead: thrift.BoolPtr(true),
			MaxMessageSize:    maxFrame,
		},
		conns: make(map[net.Conn]struct{}),
	}
	s.st.init()
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.wg.Add(1)
	if cfg.Auth == AuthHTTP {
		mux := http.NewServeMux()
		mux.HandleFunc("/", s.serveHTTP)
		s.hs = &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          log.New(io.Discard, "", 0),
			BaseContext:       func(net.Listener) context.Context { return s.ctx },
			ConnState:         s.httpConnState,
		}
		go func() {
			defer s.wg.Done()
			_ = s.hs.Serve(&refusingListener{Listener: ln, s: s})
		}()
	} else {
		go s.acceptLoop()
	}
	s.log.Debug("hs2test: listening", "addr", s.addr, "auth", cfg.Auth, "refusal", cfg.Refusal.String())
	return s, nil
}

// NewServer starts a server for a test and closes it in t.Cleanup; it
// calls t.Fatal if the server cannot start.
func NewServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Addr returns the address clients dial, "host:port" (an unspecified
// listen host is reported as 127.0.0.1).
func (s *Server) Addr() string { return s.addr }

// Config returns the server's configuration, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	return Stats{Accepted: s.accepted.Load(), Refused: s.refused.Load(),
		Sessions: s.sessions.Load(), Statements: s.statements.Load()}
}

// Close stops the listener, closes every connection and waits for every
// goroutine the server started. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		conns := make([]net.Conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		s.stop()
		var err error
		if s.hs != nil {
			err = s.hs.Close() // closes the listener and every connection
		} else {
			err = s.ln.Close()
		}
		for _, c := range conns {
			_ = c.Close()
		}
		s.wg.Wait()
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
		s.closeErr = err
		s.log.Debug("hs2test: closed", "stats", fmt.Sprintf("%+v", s.Stats()))
	})
	return s.closeErr
}

func (s *Server) active() bool { return s.cfg.Active == nil || s.cfg.Active() }

// admit counts an accepted connection and applies RefuseClose; it reports
// whether the connection may be served.
func (s *Server) admit(c net.Conn) bool {
	s.accepted.Add(1)
	if s.cfg.Refusal == RefuseClose && !s.active() {
		s.refused.Add(1)
		_ = c.Close()
		s.log.Debug("hs2test: passive, connection closed", "remote", c.RemoteAddr().String())
		return false
	}
	return true
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, net.ErrClosed) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return
		}
		delay = 0
		if !s.admit(c) {
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// connState is what one binary connection remembers.
type connState struct {
	refused atomic.Bool // its OpenSession was refused
	user    string      // SASL user, if any
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.Close()
	}()
	cs := &connState{}
	var tr thrift.TTransport
	st := newStreamTransport(c)
	switch s.cfg.Auth {
	case AuthNone:
		_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
		user, err := s.saslHandshake(st.r, st.w)
		if err != nil {
			s.log.Debug("hs2test: SASL handshake failed", "remote", c.RemoteAddr().String(), "err", err)
			return
		}
		_ = c.SetDeadline(time.Time{})
		cs.user = user
		tr = &saslTransport{stream: st}
	default:
		tr = st
	}
	proto := thrift.NewTBinaryProtocolConf(tr, s.tconf)
	proc := hiveserver.NewTCLIServiceProcessor(&handler{s: s, cs: cs})
	for {
		if err := s.processOne(s.ctx, cs, proc, proto, proto); err != nil {
			if !isEOF(err) {
				s.log.Debug("hs2test: connection ends", "remote", c.RemoteAddr().String(), "err", err)
			}
			return
		}
	}
}

// processOne reads and answers one Thrift call.
func (s *Server) processOne(ctx context.Context, cs *connState, proc *hiveserver.TCLIServiceProcessor, in, out thrift.TProtocol) error {
	name, _, seq, err := in.ReadMessageBegin(ctx)
	if err != nil {
		return err
	}
	if name != "OpenSession" && ((cs != nil && cs.refused.Load()) ||
		(s.cfg.Refusal == RefuseOpenSession && !s.active())) {
		return s.reject(ctx, in, out, name, seq, thrift.INTERNAL_ERROR, StandbyMessage)
	}
	fn, ok := proc.GetProcessorFunction(name)
	if !ok {
		return s.reject(ctx, in, out, name, seq, thrift.UNKNOWN_METHOD, "Unknown function "+name)
	}
	ok, terr := fn.Process(ctx, seq, in, out)
	if !ok {
		if terr == nil {
			terr = thrift.NewTTransportException(thrift.UNKNOWN_TRANSPORT_EXCEPTION, "hs2test: "+name+" failed")
		}
		return terr
	}
	return nil
}

// reject skips a call's arguments and answers it with an exception.
func (s *Server) reject(ctx context.Context, in, out thrift.TProtocol, name string, seq int32, typ int32, msg string) error {
	if err := in.Skip(ctx, thrift.STRUCT); err != nil {
		return err
	}
	if err := in.ReadMessageEnd(ctx); err != nil {
		return err
	}
	s.log.Debug("hs2test: call rejected", "method", name, "reason", msg)
	if err := out.WriteMessageBegin(ctx, name, thrift.EXCEPTION, seq); err != nil {
		return err
	}
	if err := thrift.NewTApplicationException(typ, msg).Write(ctx, out); err != nil {
		return err
	}
	if err := out.WriteMessageEnd(ctx); err != nil {
		return err
	}
	return out.Flush(ctx)
}

// refusingListener applies the accept-time Active check to HTTP
// connections.
type refusingListener struct {
	net.Listener
	s *Server
}

func (l *refusingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.s.admit(c) {
			return c, nil
		}
	}
}

// httpConnState counts HTTP connections into s.wg. StateNew runs on the
// Serve goroutine (itself counted), so the counter is never zero there.
func (s *Server) httpConnState(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		s.wg.Add(1)
	case http.StateClosed, http.StateHijacked:
		s.wg.Done()
	}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.Trim(r.URL.Path, "/") != s.cfg.HTTPPath {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	user, pass, ok := r.BasicAuth()
	if s.cfg.User != "" && (!ok || user != s.cfg.User || pass != s.cfg.Password) {
		w.Header().Set("WWW-Authenticate", `Basic realm="hs2test"`)
		http.Error(w, "Authentication Error", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxFrame+1))
	if err != nil || len(body) > maxFrame {
		http.Error(w, "bad request body", http.StatusBadRequest)
		return
	}
	in := thrift.NewTMemoryBuffer()
	_, _ = in.Write(body)
	out := thrift.NewTMemoryBuffer()
	proc := hiveserver.NewTCLIServiceProcessor(&handler{s: s, user: user})
	err = s.processOne(r.Context(), nil, proc,
		thrift.NewTBinaryProtocolConf(in, s.tconf), thrift.NewTBinaryProtocolConf(out, s.tconf))
	if err != nil && out.Len() == 0 {
		http.Error(w, "bad Thrift request: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/x-thrift")
	_, _ = w.Write(out.Bytes())
}

// advertised turns a listen address into a dialable host:port.
func advertised(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func isEOF(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var te thrift.TTransportException
	return errors.As(err, &te) && te.TypeId() == thrift.END_OF_FILE
}

type discardHandler struct{}

func (discardHandler) Enabled(context.Context, slog.Level) bool  { return false }
func (discardHandler) Handle(context.Context, slog.Record) error { return nil }
func (d discardHandler) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discardHandler) WithGroup(string) slog.Handler           { return d }
