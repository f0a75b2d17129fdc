package hs2test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/beltran/gohive/hiveserver"
)

// state holds the sessions and operations of a Server.
type state struct {
	mu       sync.Mutex
	sessions map[string]*session   // by GUID
	ops      map[string]*operation // by GUID
}

func (st *state) init() {
	st.sessions = make(map[string]*session)
	st.ops = make(map[string]*operation)
}

type session struct {
	handle   *hiveserver.TSessionHandle
	user     string
	database string
	ops      map[string]struct{}
}

type operation struct {
	handle  *hiveserver.TOperationHandle
	sess    *session
	result  *result // nil: no result set
	next    int     // next row to fetch
	started int64
}

func newHandleID() *hiveserver.THandleIdentifier {
	g, s := make([]byte, 16), make([]byte, 16)
	_, _ = rand.Read(g)
	_, _ = rand.Read(s)
	return &hiveserver.THandleIdentifier{GUID: g, Secret: s}
}

func sameID(a, b *hiveserver.THandleIdentifier) bool {
	return a != nil && b != nil && string(a.GUID) == string(b.GUID) && string(a.Secret) == string(b.Secret)
}

func (st *state) session(h *hiveserver.TSessionHandle) (*session, *hiveserver.TStatus) {
	if h == nil || h.SessionId == nil {
		return nil, errStatus("Invalid SessionHandle: missing", "HY000", 0)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if s := st.sessions[string(h.SessionId.GUID)]; s != nil && sameID(s.handle.SessionId, h.SessionId) {
		return s, nil
	}
	return nil, errStatus("Invalid SessionHandle: SessionHandle ["+hex.EncodeToString(h.SessionId.GUID)+"]", "HY000", 0)
}

func (st *state) op(h *hiveserver.TOperationHandle) (*operation, *hiveserver.TStatus) {
	if h == nil || h.OperationId == nil {
		return nil, errStatus("Invalid OperationHandle: missing", "HY000", 0)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if o := st.ops[string(h.OperationId.GUID)]; o != nil && sameID(o.handle.OperationId, h.OperationId) {
		return o, nil
	}
	return nil, errStatus("Invalid OperationHandle: OperationHandle [opType=EXECUTE_STATEMENT, getHandleIdentifier()="+
		hex.EncodeToString(h.OperationId.GUID)+"]", "HY000", 0)
}

var okStatus = &hiveserver.TStatus{StatusCode: hiveserver.TStatusCode_SUCCESS_STATUS}

func errStatus(msg, sqlState string, code int32) *hiveserver.TStatus {
	return &hiveserver.TStatus{StatusCode: hiveserver.TStatusCode_ERROR_STATUS,
		ErrorMessage: &msg, SqlState: &sqlState, ErrorCode: &code}
}

func unsupported(method string) *hiveserver.TStatus {
	return errStatus("hs2test: "+method+" not supported", "HYC00", 0)
}

// handler implements hiveserver.TCLIService for one binary connection (cs
// set) or one HTTP request (user from basic auth).
type handler struct {
	s    *Server
	cs   *connState
	user string
}

var _ hiveserver.TCLIService = (*handler)(nil)

func (h *handler) OpenSession(_ context.Context, req *hiveserver.TOpenSessionReq) (*hiveserver.TOpenSessionResp, error) {
	s := h.s
	resp := &hiveserver.TOpenSessionResp{ServerProtocolVersion: req.ClientProtocol}
	if s.cfg.Refusal == RefuseOpenSession && !s.active() {
		s.refused.Add(1)
		if h.cs != nil {
			h.cs.refused.Store(true)
		}
		s.log.Debug("hs2test: passive, OpenSession refused")
		resp.Status = errStatus(StandbyMessage, "08S01", 0)
		return resp, nil
	}
	if req.ClientProtocol < hiveserver.TProtocolVersion_HIVE_CLI_SERVICE_PROTOCOL_V6 {
		resp.Status = errStatus(fmt.Sprintf("hs2test: client protocol %v not supported (columnar results need V6+)",
			req.ClientProtocol), "08S01", 0)
		return resp, nil
	}
	if resp.ServerProtocolVersion > hiveserver.TProtocolVersion_HIVE_CLI_SERVICE_PROTOCOL_V10 {
		resp.ServerProtocolVersion = hiveserver.TProtocolVersion_HIVE_CLI_SERVICE_PROTOCOL_V10
	}
	user := h.user
	if h.cs != nil && h.cs.user != "" {
		user = h.cs.user
	}
	if user == "" && req.Username != nil {
		user = *req.Username
	}
	if user == "" {
		user = "anonymous"
	}
	sess := &session{handle: &hiveserver.TSessionHandle{SessionId: newHandleID()}, user: user,
		database: "default", ops: make(map[string]struct{})}
	s.st.mu.Lock()
	s.st.sessions[string(sess.handle.SessionId.GUID)] = sess
	s.st.mu.Unlock()
	s.sessions.Add(1)
	s.log.Debug("hs2test: session opened", "user", user)
	resp.Status = okStatus
	resp.SessionHandle = sess.handle
	return resp, nil
}

func (h *handler) CloseSession(_ context.Context, req *hiveserver.TCloseSessionReq) (*hiveserver.TCloseSessionResp, error) {
	st := &h.s.st
	sess, bad := st.session(req.SessionHandle)
	if bad != nil {
		return &hiveserver.TCloseSessionResp{Status: bad}, nil
	}
	st.mu.Lock()
	for id := range sess.ops {
		delete(st.ops, id)
	}
	delete(st.sessions, string(sess.handle.SessionId.GUID))
	st.mu.Unlock()
	return &hiveserver.TCloseSessionResp{Status: okStatus}, nil
}

func (h *handler) ExecuteStatement(_ context.Context, req *hiveserver.TExecuteStatementReq) (*hiveserver.TExecuteStatementResp, error) {
	st := &h.s.st
	sess, bad := st.session(req.SessionHandle)
	if bad != nil {
		return &hiveserver.TExecuteStatementResp{Status: bad}, nil
	}
	h.s.statements.Add(1)
	st.mu.Lock()
	env := evalEnv{server: h.s.cfg.Name, user: sess.user, database: sess.database}
	st.mu.Unlock()
	res, useDB, err := evaluate(req.Statement, env)
	if err != nil {
		h.s.log.Debug("hs2test: statement failed", "statement", req.Statement, "err", err)
		return &hiveserver.TExecuteStatementResp{Status: errStatus(err.Error(), "42000", 40000)}, nil
	}
	op := &operation{sess: sess, result: res, started: time.Now().UnixMilli(),
		handle: &hiveserver.TOperationHandle{OperationId: newHandleID(),
			OperationType: hiveserver.TOperationType_EXECUTE_STATEMENT, HasResultSet: res != nil}}
	st.mu.Lock()
	if useDB != "" {
		sess.database = useDB
	}
	st.ops[string(op.handle.OperationId.GUID)] = op
	sess.ops[string(op.handle.OperationId.GUID)] = struct{}{}
	st.mu.Unlock()
	return &hiveserver.TExecuteStatementResp{Status: okStatus, OperationHandle: op.handle}, nil
}

func (h *handler) GetOperationStatus(_ context.Context, req *hiveserver.TGetOperationStatusReq) (*hiveserver.TGetOperationStatusResp, error) {
	op, bad := h.s.st.op(req.OperationHandle)
	if bad != nil {
		return &hiveserver.TGetOperationStatusResp{Status: bad}, nil
	}
	state := hiveserver.TOperationState_FINISHED_STATE
	has := op.result != nil
	return &hiveserver.TGetOperationStatusResp{Status: okStatus, OperationState: &state,
		HasResultSet: &has, OperationStarted: &op.started, OperationCompleted: &op.started}, nil
}

func (h *handler) CancelOperation(_ context.Context, req *hiveserver.TCancelOperationReq) (*hiveserver.TCancelOperationResp, error) {
	if _, bad := h.s.st.op(req.OperationHandle); bad != nil {
		return &hiveserver.TCancelOperationResp{Status: bad}, nil
	}
	return &hiveserver.TCancelOperationResp{Status: okStatus}, nil // already finished
}

func (h *handler) CloseOperation(_ context.Context, req *hiveserver.TCloseOperationReq) (*hiveserver.TCloseOperationResp, error) {
	st := &h.s.st
	op, bad := st.op(req.OperationHandle)
	if bad != nil {
		return &hiveserver.TCloseOperationResp{Status: bad}, nil
	}
	id := string(op.handle.OperationId.GUID)
	st.mu.Lock()
	delete(st.ops, id)
	delete(op.sess.ops, id)
	st.mu.Unlock()
	return &hiveserver.TCloseOperationResp{Status: okStatus}, nil
}

func (h *handler) GetResultSetMetadata(_ context.Context, req *hiveserver.TGetResultSetMetadataReq) (*hiveserver.TGetResultSetMetadataResp, error) {
	op, bad := h.s.st.op(req.OperationHandle)
	if bad != nil {
		return &hiveserver.TGetResultSetMetadataResp{Status: bad}, nil
	}
	schema := &hiveserver.TTableSchema{Columns: []*hiveserver.TColumnDesc{}}
	if op.result != nil {
		for i, c := range op.result.cols {
			schema.Columns = append(schema.Columns, &hiveserver.TColumnDesc{
				ColumnName: c.name,
				TypeDesc: &hiveserver.TTypeDesc{Types: []*hiveserver.TTypeEntry{{
					PrimitiveEntry: &hiveserver.TPrimitiveTypeEntry{Type: c.typ}}}},
				Position: int32(i + 1),
			})
		}
	}
	return &hiveserver.TGetResultSetMetadataResp{Status: okStatus, Schema: schema}, nil
}

func (h *handler) FetchResults(_ context.Context, req *hiveserver.TFetchResultsReq) (*hiveserver.TFetchResultsResp, error) {
	st := &h.s.st
	op, bad := st.op(req.OperationHandle)
	if bad != nil {
		return &hiveserver.TFetchResultsResp{Status: bad}, nil
	}
	no := false
	if req.FetchType == 1 { // operation log: one string column, no lines
		return &hiveserver.TFetchResultsResp{Status: okStatus, HasMoreRows: &no, Results: &hiveserver.TRowSet{
			Rows: []*hiveserver.TRow{}, Columns: []*hiveserver.TColumn{{StringVal: &hiveserver.TStringColumn{Values: []string{}, Nulls: []byte{}}}},
		}}, nil
	}
	if op.result == nil {
		return &hiveserver.TFetchResultsResp{Status: errStatus("No result set for this operation", "HY010", 0)}, nil
	}
	st.mu.Lock()
	if req.Orientation == hiveserver.TFetchOrientation_FETCH_FIRST {
		op.next = 0
	}
	from := op.next
	n := op.result.rows - from
	if req.MaxRows > 0 && int64(n) > req.MaxRows {
		n = int(req.MaxRows)
	}
	op.next += n
	more := op.next < op.result.rows
	st.mu.Unlock()
	rs := &hiveserver.TRowSet{StartRowOffset: int64(from), Rows: []*hiveserver.TRow{}}
	for _, c := range op.result.cols {
		rs.Columns = append(rs.Columns, c.slice(from, from+n))
	}
	return &hiveserver.TFetchResultsResp{Status: okStatus, HasMoreRows: &more, Results: rs}, nil
}

func (h *handler) GetQueryId(_ context.Context, req *hiveserver.TGetQueryIdReq) (*hiveserver.TGetQueryIdResp, error) {
	op, bad := h.s.st.op(req.OperationHandle)
	if bad != nil {
		return nil, errors.New(bad.GetErrorMessage())
	}
	return &hiveserver.TGetQueryIdResp{QueryId: "hs2test_" + hex.EncodeToString(op.handle.OperationId.GUID)}, nil
}

// Unsupported methods: ERROR_STATUS "... not supported".

func (h *handler) GetInfo(context.Context, *hiveserver.TGetInfoReq) (*hiveserver.TGetInfoResp, error) {
	empty := ""
	return &hiveserver.TGetInfoResp{Status: unsupported("GetInfo"), InfoValue: &hiveserver.TGetInfoValue{StringValue: &empty}}, nil
}

func (h *handler) GetTypeInfo(context.Context, *hiveserver.TGetTypeInfoReq) (*hiveserver.TGetTypeInfoResp, error) {
	return &hiveserver.TGetTypeInfoResp{Status: unsupported("GetTypeInfo")}, nil
}

func (h *handler) GetCatalogs(context.Context, *hiveserver.TGetCatalogsReq) (*hiveserver.TGetCatalogsResp, error) {
	return &hiveserver.TGetCatalogsResp{Status: unsupported("GetCatalogs")}, nil
}

func (h *handler) GetSchemas(context.Context, *hiveserver.TGetSchemasReq) (*hiveserver.TGetSchemasResp, error) {
	return &hiveserver.TGetSchemasResp{Status: unsupported("GetSchemas")}, nil
}

func (h *handler) GetTables(context.Context, *hiveserver.TGetTablesReq) (*hiveserver.TGetTablesResp, error) {
	return &hiveserver.TGetTablesResp{Status: unsupported("GetTables")}, nil
}

func (h *handler) GetTableTypes(context.Context, *hiveserver.TGetTableTypesReq) (*hiveserver.TGetTableTypesResp, error) {
	return &hiveserver.TGetTableTypesResp{Status: unsupported("GetTableTypes")}, nil
}

func (h *handler) GetColumns(context.Context, *hiveserver.TGetColumnsReq) (*hiveserver.TGetColumnsResp, error) {
	return &hiveserver.TGetColumnsResp{Status: unsupported("GetColumns")}, nil
}

func (h *handler) GetFunctions(context.Context, *hiveserver.TGetFunctionsReq) (*hiveserver.TGetFunctionsResp, error) {
	return &hiveserver.TGetFunctionsResp{Status: unsupported("GetFunctions")}, nil
}

func (h *handler) GetPrimaryKeys(context.Context, *hiveserver.TGetPrimaryKeysReq) (*hiveserver.TGetPrimaryKeysResp, error) {
	return &hiveserver.TGetPrimaryKeysResp{Status: unsupported("GetPrimaryKeys")}, nil
}

func (h *handler) GetCrossReference(context.Context, *hiveserver.TGetCrossReferenceReq) (*hiveserver.TGetCrossReferenceResp, error) {
	return &hiveserver.TGetCrossReferenceResp{Status: unsupported("GetCrossReference")}, nil
}

func (h *handler) GetDelegationToken(context.Context, *hiveserver.TGetDelegationTokenReq) (*hiveserver.TGetDelegationTokenResp, error) {
	return &hiveserver.TGetDelegationTokenResp{Status: unsupported("GetDelegationToken")}, nil
}

func (h *handler) CancelDelegationToken(context.Context, *hiveserver.TCancelDelegationTokenReq) (*hiveserver.TCancelDelegationTokenResp, error) {
	return &hiveserver.TCancelDelegationTokenResp{Status: unsupported("CancelDelegationToken")}, nil
}

func (h *handler) RenewDelegationToken(context.Context, *hiveserver.TRenewDelegationTokenReq) (*hiveserver.TRenewDelegationTokenResp, error) {
	return &hiveserver.TRenewDelegationTokenResp{Status: unsupported("RenewDelegationToken")}, nil
}

func (h *handler) SetClientInfo(context.Context, *hiveserver.TSetClientInfoReq) (*hiveserver.TSetClientInfoResp, error) {
	return &hiveserver.TSetClientInfoResp{Status: unsupported("SetClientInfo")}, nil
}
