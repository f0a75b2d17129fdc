package hs2test_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/beltran/gohive"
	"github.com/beltran/gohive/hiveserver"

	"github.com/livyha/livyha/thrift/hs2test"
)

// mode is one way a gohive v1 client talks to a server.
type mode struct {
	name      string
	server    string // hs2test Config.Auth
	auth      string // gohive auth
	transport string // gohive TransportMode
}

var modes = []mode{
	{"binary-NOSASL", hs2test.AuthNoSASL, "NOSASL", "binary"},
	{"binary-SASL-PLAIN", hs2test.AuthNone, "NONE", "binary"},
	{"http", hs2test.AuthHTTP, "NONE", "http"},
}

func connect(t *testing.T, s *hs2test.Server, m mode, user, pass string) (*gohive.Connection, error) {
	t.Helper()
	host, p, err := net.SplitHostPort(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	cfg := gohive.NewConnectConfiguration()
	cfg.Username, cfg.Password = user, pass
	cfg.TransportMode = m.transport
	cfg.HTTPPath = s.Config().HTTPPath
	cfg.ConnectTimeout = 5 * time.Second
	cfg.SocketTimeout = 10 * time.Second
	// No HttpTimeout: with one, net/http leaves a timer goroutine per
	// request behind (client side), which would blur the goroutine count.
	cfg.PollIntervalInMillis = 10
	return gohive.Connect(host, port, m.auth, cfg)
}

func mustConnect(t *testing.T, s *hs2test.Server, m mode) *gohive.Connection {
	t.Helper()
	conn, err := connect(t, s, m, "alice", "secret")
	if err != nil {
		t.Fatalf("%s: connect: %v", m.name, err)
	}
	return conn
}

// exec runs a statement without a result set.
func exec(ctx context.Context, conn *gohive.Connection, q string) error {
	cur := conn.Cursor()
	defer cur.Close()
	cur.Exec(ctx, q)
	return cur.Err
}

// query runs a statement and returns its rows.
func query(ctx context.Context, conn *gohive.Connection, q string) ([]map[string]any, error) {
	cur := conn.Cursor()
	defer cur.Close()
	cur.Exec(ctx, q)
	if cur.Err != nil {
		return nil, cur.Err
	}
	var rows []map[string]any
	for cur.HasMore(ctx) {
		if cur.Err != nil {
			return nil, cur.Err
		}
		m := cur.RowMap(ctx)
		if cur.Err != nil {
			return nil, cur.Err
		}
		rows = append(rows, m)
	}
	return rows, cur.Err
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestQueriesInEveryMode(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := hs2test.NewServer(t, hs2test.Config{Auth: m.server, Name: "livy-1"})
			conn := mustConnect(t, s, m)
			ctx := ctxT(t)
			for _, tc := range []struct {
				q    string
				want map[string]any
			}{
				{"SELECT current_server()", map[string]any{"_c0": "livy-1"}},
				{"select 1", map[string]any{"_c0": int32(1)}},
				{"SELECT 'it', 10000000000 AS big, -7 n, true;", map[string]any{"_c0": "it", "big": int64(10000000000), "n": int32(-7), "_c3": true}},
				{`SELECT "a\"b" AS s, current_user() u`, map[string]any{"s": `a"b`, "u": "alice"}},
			} {
				rows, err := query(ctx, conn, tc.q)
				if err != nil {
					t.Fatalf("%q: %v", tc.q, err)
				}
				if len(rows) != 1 || len(rows[0]) != len(tc.want) {
					t.Fatalf("%q: rows %v, want [%v]", tc.q, rows, tc.want)
				}
				for k, v := range tc.want {
					if rows[0][k] != v {
						t.Fatalf("%q: %s = %#v, want %#v (rows %v)", tc.q, k, rows[0][k], v, rows)
					}
				}
			}
			// USE changes current_database(); a bad statement is a Hive-like error.
			if err := exec(ctx, conn, "USE livy"); err != nil {
				t.Fatal(err)
			}
			if rows, err := query(ctx, conn, "SELECT current_database()"); err != nil || rows[0]["_c0"] != "livy" {
				t.Fatalf("current_database: %v %v", rows, err)
			}
			_, err := query(ctx, conn, "DROP TABLE x")
			var he gohive.HiveError
			if !errors.As(err, &he) || !strings.Contains(he.Message, "Error while compiling statement") || he.ErrorCode != 40000 {
				t.Fatalf("DROP TABLE: err %v", err)
			}
			t.Logf("bad statement: %q (code %d)", he.Message, he.ErrorCode)
			if err := conn.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			st := s.Stats()
			if st.Sessions != 1 || st.Statements != 7 || st.Refused != 0 || st.Accepted < 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestCredentials(t *testing.T) {
	for _, m := range modes[1:] {
		t.Run(m.name, func(t *testing.T) {
			s := hs2test.NewServer(t, hs2test.Config{Auth: m.server, User: "alice", Password: "secret", Name: "x"})
			conn, err := connect(t, s, m, "alice", "secret")
			if err != nil {
				t.Fatalf("right password: %v", err)
			}
			if rows, err := query(ctxT(t), conn, "SELECT current_user()"); err != nil || rows[0]["_c0"] != "alice" {
				t.Fatalf("current_user: %v %v", rows, err)
			}
			_ = conn.Close()
			for _, bad := range [][2]string{{"alice", "wrong"}, {"bob", "secret"}} {
				conn, err := connect(t, s, m, bad[0], bad[1])
				if err == nil {
					_ = conn.Close()
					t.Fatalf("%v: connected", bad)
				}
				t.Logf("%v: %v", bad, err)
			}
			if st := s.Stats(); st.Sessions != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestPassiveRefuseClose(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			var active atomic.Bool
			s := hs2test.NewServer(t, hs2test.Config{Auth: m.server, Name: "livy-2", Active: active.Load})
			start := time.Now()
			conn, err := connect(t, s, m, "alice", "secret")
			took := time.Since(start)
			if err == nil {
				_ = conn.Close()
				t.Fatal("connected to a passive server")
			}
			t.Logf("passive (close) refused in %v: %v", took, err)
			if took > 2*time.Second {
				t.Fatalf("refusal took %v", took)
			}
			if st := s.Stats(); st.Refused < 1 || st.Sessions != 0 {
				t.Fatalf("stats %+v", st)
			}
			// Checked per connection: once active, the next connect works.
			active.Store(true)
			conn = mustConnect(t, s, m)
			if rows, err := query(ctxT(t), conn, "SELECT current_server()"); err != nil || rows[0]["_c0"] != "livy-2" {
				t.Fatalf("after activation: %v %v", rows, err)
			}
			_ = conn.Close()
		})
	}
}

func TestPassiveRefuseOpenSession(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			var active atomic.Bool
			s := hs2test.NewServer(t, hs2test.Config{Auth: m.server, Name: "livy-2", Active: active.Load,
				Refusal: hs2test.RefuseOpenSession})
			start := time.Now()
			conn, err := connect(t, s, m, "alice", "secret")
			t.Logf("gohive.Connect: %v", err)
			if err == nil {
				// gohive v1 does not check OpenSession's status: the
				// refusal surfaces at the first call.
				_, err = query(ctxT(t), conn, "SELECT 1")
				_ = conn.Close()
			}
			took := time.Since(start)
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), "standby") {
				t.Fatalf("err %v, want one mentioning standby", err)
			}
			t.Logf("passive (opensession) refused in %v: %v", took, err)
			if st := s.Stats(); st.Refused != 1 || st.Sessions != 0 || st.Statements != 0 {
				t.Fatalf("stats %+v", st)
			}
			active.Store(true)
			conn = mustConnect(t, s, m)
			if rows, err := query(ctxT(t), conn, "SELECT current_server()"); err != nil || rows[0]["_c0"] != "livy-2" {
				t.Fatalf("after activation: %v %v", rows, err)
			}
			_ = conn.Close()
		})
	}
}

// rawClient is a TCLIService client over plain binary (NOSASL).
func rawClient(t *testing.T, addr string) *hiveserver.TCLIServiceClient {
	t.Helper()
	sock := thrift.NewTSocketConf(addr, &thrift.TConfiguration{ConnectTimeout: 5 * time.Second, SocketTimeout: 5 * time.Second})
	if err := sock.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sock.Close() })
	tr := thrift.NewTBufferedTransport(sock, 4096)
	return hiveserver.NewTCLIServiceClientFactory(tr, thrift.NewTBinaryProtocolFactoryConf(nil))
}

// TestOpenSessionStatus shows what a locator must check: a refusing
// passive answers OpenSession with ERROR_STATUS and no session handle.
func TestOpenSessionStatus(t *testing.T) {
	s := hs2test.NewServer(t, hs2test.Config{Active: func() bool { return false }, Refusal: hs2test.RefuseOpenSession})
	c := rawClient(t, s.Addr())
	ctx := ctxT(t)
	resp, err := c.OpenSession(ctx, &hiveserver.TOpenSessionReq{ClientProtocol: hiveserver.TProtocolVersion_HIVE_CLI_SERVICE_PROTOCOL_V8})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status.StatusCode != hiveserver.TStatusCode_ERROR_STATUS || resp.Status.GetErrorMessage() != hs2test.StandbyMessage || resp.SessionHandle != nil {
		t.Fatalf("OpenSession on a passive: %v", resp)
	}
	_, err = c.GetInfo(ctx, &hiveserver.TGetInfoReq{SessionHandle: &hiveserver.TSessionHandle{
		SessionId: &hiveserver.THandleIdentifier{GUID: []byte("x"), Secret: []byte("y")}}})
	if err == nil || !strings.Contains(err.Error(), hs2test.StandbyMessage) {
		t.Fatalf("later call: %v", err)
	}
}

func TestUnsupportedAndInvalid(t *testing.T) {
	s := hs2test.NewServer(t, hs2test.Config{})
	c := rawClient(t, s.Addr())
	ctx := ctxT(t)
	resp, err := c.OpenSession(ctx, &hiveserver.TOpenSessionReq{ClientProtocol: hiveserver.TProtocolVersion_HIVE_CLI_SERVICE_PROTOCOL_V11})
	if err != nil || resp.Status.StatusCode != hiveserver.TStatusCode_SUCCESS_STATUS ||
		resp.ServerProtocolVersion != hiveserver.TProtocolVersion_HIVE_CLI_SERVICE_PROTOCOL_V10 {
		t.Fatalf("OpenSession: %v %v", resp, err)
	}
	tables, err := c.GetTables(ctx, &hiveserver.TGetTablesReq{SessionHandle: resp.SessionHandle})
	if err != nil || tables.Status.StatusCode != hiveserver.TStatusCode_ERROR_STATUS || !strings.Contains(tables.Status.GetErrorMessage(), "not supported") {
		t.Fatalf("GetTables: %v %v", tables, err)
	}
	info, err := c.GetInfo(ctx, &hiveserver.TGetInfoReq{SessionHandle: resp.SessionHandle})
	if err != nil || info.Status.StatusCode != hiveserver.TStatusCode_ERROR_STATUS {
		t.Fatalf("GetInfo: %v %v", info, err)
	}
	bogus := &hiveserver.TSessionHandle{SessionId: &hiveserver.THandleIdentifier{GUID: []byte("nope"), Secret: []byte("x")}}
	ex, err := c.ExecuteStatement(ctx, &hiveserver.TExecuteStatementReq{SessionHandle: bogus, Statement: "SELECT 1"})
	if err != nil || ex.Status.StatusCode != hiveserver.TStatusCode_ERROR_STATUS || !strings.Contains(ex.Status.GetErrorMessage(), "Invalid SessionHandle") {
		t.Fatalf("ExecuteStatement with a bogus session: %v %v", ex, err)
	}
	// Paging: MaxRows 0 rows at a time is "all"; a second fetch is empty.
	ex, err = c.ExecuteStatement(ctx, &hiveserver.TExecuteStatementReq{SessionHandle: resp.SessionHandle, Statement: "SELECT 'a', 2"})
	if err != nil || ex.Status.StatusCode != hiveserver.TStatusCode_SUCCESS_STATUS {
		t.Fatalf("ExecuteStatement: %v %v", ex, err)
	}
	for i, want := range []int{1, 0} {
		f, err := c.FetchResults(ctx, &hiveserver.TFetchResultsReq{OperationHandle: ex.OperationHandle,
			Orientation: hiveserver.TFetchOrientation_FETCH_NEXT, MaxRows: 100})
		if err != nil || f.Status.StatusCode != hiveserver.TStatusCode_SUCCESS_STATUS || len(f.Results.Columns) != 2 ||
			len(f.Results.Columns[0].StringVal.Values) != want || len(f.Results.Columns[1].I32Val.Values) != want || f.GetHasMoreRows() {
			t.Fatalf("fetch %d: %v %v", i, f, err)
		}
	}
	if cl, err := c.CloseSession(ctx, &hiveserver.TCloseSessionReq{SessionHandle: resp.SessionHandle}); err != nil ||
		cl.Status.StatusCode != hiveserver.TStatusCode_SUCCESS_STATUS {
		t.Fatalf("CloseSession: %v %v", cl, err)
	}
	if f, err := c.FetchResults(ctx, &hiveserver.TFetchResultsReq{OperationHandle: ex.OperationHandle, MaxRows: 1}); err != nil ||
		f.Status.StatusCode != hiveserver.TStatusCode_ERROR_STATUS {
		t.Fatalf("fetch after CloseSession: %v %v", f, err)
	}
}

// TestWrongTransportFailsFast: a client speaking the wrong framing gets an
// error, not a hang.
func TestWrongTransportFailsFast(t *testing.T) {
	for _, tc := range []struct {
		server string
		client mode
	}{
		{hs2test.AuthNoSASL, modes[1]},
		{hs2test.AuthNone, modes[0]},
	} {
		s := hs2test.NewServer(t, hs2test.Config{Auth: tc.server})
		start := time.Now()
		conn, err := connect(t, s, tc.client, "alice", "secret")
		if err == nil {
			_ = conn.Close()
			t.Fatalf("%s client on a %s server: connected", tc.client.name, tc.server)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("%s client on a %s server: failed after %v", tc.client.name, tc.server, took)
		}
		t.Logf("%s client on a %s server: %v", tc.client.name, tc.server, err)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	var servers []*hs2test.Server
	for _, m := range modes {
		for _, refusal := range []hs2test.Refusal{hs2test.RefuseClose, hs2test.RefuseOpenSession} {
			s, err := hs2test.Start(hs2test.Config{Auth: m.server, Refusal: refusal})
			if err != nil {
				t.Fatal(err)
			}
			servers = append(servers, s)
			// Leave a session open, plus a raw idle connection.
			conn := mustConnect(t, s, m)
			if _, err := query(ctxT(t), conn, "SELECT 1"); err != nil {
				t.Fatal(err)
			}
			raw, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
		}
	}
	if n := runtime.NumGoroutine(); n <= before {
		t.Fatalf("goroutines %d with servers running, %d before: the servers should have some", n, before)
	}
	start := time.Now()
	for _, s := range servers {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil { // idempotent
			t.Fatal(err)
		}
	}
	t.Logf("closing %d servers took %v", len(servers), time.Since(start))
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := hs2test.Start(hs2test.Config{Auth: "KERBEROS"}); err == nil {
		t.Fatal("KERBEROS accepted")
	}
	if _, err := hs2test.Start(hs2test.Config{Refusal: 7}); err == nil {
		t.Fatal("Refusal 7 accepted")
	}
	if _, err := hs2test.Start(hs2test.Config{Addr: "127.0.0.1:-1"}); err == nil {
		t.Fatal("bad address accepted")
	}
	s := hs2test.NewServer(t, hs2test.Config{Auth: "http", HTTPPath: "/x/y/"})
	if c := s.Config(); c.Auth != hs2test.AuthHTTP || c.HTTPPath != "x/y" {
		t.Fatalf("config %+v", c)
	}
}
