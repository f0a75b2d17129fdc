package livyclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrUnexpectedState is returned by Wait when the session or batch
// finished in a state the caller did not wait for.
var ErrUnexpectedState = errors.New("livyclient: finished in an unexpected state")

// CreateError is returned by Create calls that failed; Name is the name
// the job was created with (generated when the caller gave none), so the
// caller can look it up — with errors.Is(err, ErrAmbiguous) the job may
// exist.
type CreateError struct {
	Name string
	Err  error
}

func (e *CreateError) Error() string {
	if e.Name == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("%v (name %q)", e.Err, e.Name)
}

func (e *CreateError) Unwrap() error { return e.Err }

// create posts a create request without ever making a duplicate: it is
// retried blindly only when it provably never reached a server (the
// transport does that); after an ambiguous failure — no answer, or a 5xx,
// which a server that committed and then failed also sends — the job is
// looked up by its unique name and returned, or created again if it is
// truly absent (at most 3 attempts in all).
// The lookup and the new attempt go to the active server (names are
// cluster-wide through Livy's state store), or, in multi-active mode, to
// the very server that got the first attempt (each server has its own
// names); if that server cannot answer, the ambiguity is returned rather
// than risking a second job elsewhere. Livy's duplicate-name rejection
// backs this up when the first attempt commits late.
func (c *Client) create(ctx context.Context, coll, name string, in, out any) error {
	ambiguous := false
	lctx := ctx
	lookup := func() error {
		return c.do(lctx, http.MethodGet, "/"+coll+"/"+url.PathEscape(name), nil, out)
	}
	fail := func(err error) error { return &CreateError{Name: name, Err: err} }
	for try := 1; ; try++ {
		err := c.do(lctx, http.MethodPost, "/"+coll, in, out)
		var amb *AmbiguousError
		var le *Error
		switch {
		case err == nil:
			return nil
		case name != "" && try < 3 && ctx.Err() == nil &&
			(errors.As(err, &amb) || (errors.As(err, &le) && le.StatusCode >= 500 && le.base != nil)):
			// No answer, or a 5xx: a server that committed the job and
			// then failed (its state store, a lost leadership) answers
			// 500 too, so the job may exist. Look it up by its unique
			// name before anything is created again.
			ambiguous = true
			if c.transport.cluster.perServer() {
				if amb != nil {
					lctx = pinned(ctx, amb.Server)
				} else {
					lctx = pinned(ctx, le.base)
				}
			}
			c.log.Info("livyclient: create outcome unknown; looking it up by name", "coll", coll, "name", name, "err", err)
			lerr := lookup()
			if lerr == nil {
				return nil
			}
			if !errors.Is(lerr, ErrNotFound) {
				return fail(fmt.Errorf("%w (looking the job up after: %w)", lerr, err))
			}
			// Truly absent: create it again.
		case ambiguous && errors.Is(err, ErrConflict):
			// Our earlier attempt committed after all.
			if lerr := lookup(); lerr != nil {
				return fail(lerr)
			}
			return nil
		default:
			return fail(err)
		}
	}
}

func listQuery(o *ListOptions) string {
	if o == nil {
		return ""
	}
	return encodeQuery(pageValues(o.From, o.Size))
}

// pageValues are from and size, each when > 0 (Livy's defaults
// otherwise).
func pageValues(from, size int) url.Values {
	q := url.Values{}
	if from > 0 {
		q.Set("from", strconv.Itoa(from))
	}
	if size > 0 {
		q.Set("size", strconv.Itoa(size))
	}
	return q
}

func encodeQuery(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

func logQuery(o *LogOptions) string {
	if o == nil {
		return ""
	}
	q := url.Values{}
	if o.From != nil {
		q.Set("from", strconv.Itoa(*o.From))
	}
	if o.Size != nil {
		q.Set("size", strconv.Itoa(*o.Size))
	}
	return encodeQuery(q)
}

// poll calls get every interval until done reports true or ctx ends.
func (c *Client) poll(ctx context.Context, get func() (bool, error)) error {
	t := time.NewTicker(c.pollInterval)
	defer t.Stop()
	for {
		done, err := get()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// waitState polls a session's or batch's state until it is one of until
// (default: any finished state). A finished state not in until gives
// ErrUnexpectedState.
func (c *Client) waitState(ctx context.Context, coll string, id int, until []SessionState) (SessionState, error) {
	var st State
	err := c.poll(ctx, func() (bool, error) {
		if err := c.do(ctx, http.MethodGet, "/"+coll+"/"+strconv.Itoa(id)+"/state", nil, &st); err != nil {
			return false, err
		}
		if len(until) == 0 {
			return st.State.Finished(), nil
		}
		if slices.Contains(until, st.State) {
			return true, nil
		}
		if st.State.Finished() {
			return false, fmt.Errorf("%w: %s %d is %s, waited for %v", ErrUnexpectedState, coll, id, st.State, until)
		}
		return false, nil
	})
	return st.State, err
}

// coll implements the calls /batches and /sessions have in common, for
// the view type T and the list type L.
type coll[T, L any] struct {
	c    *Client
	name string // "batches" or "sessions"
}

// path is the path of one batch or session: key is its id, or its name
// escaped (Livy accepts either; SessionServlet.scala@0.9:216-223).
func (r coll[T, L]) path(key string) string { return "/" + r.name + "/" + key }

func idKey(id int) string { return strconv.Itoa(id) }

func nameKey(name string) string { return url.PathEscape(name) }

func (r coll[T, L]) create(ctx context.Context, name *string, in any) (*T, error) {
	if *name == "" && r.c.generatedNames {
		*name = newName("livyha-")
	}
	var out T
	if err := r.c.create(ctx, r.name, *name, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// createJSON is create for an encoded request: a JSON object sent as it
// is, except for a generated "name" when it has none (absent, null or "").
func (r coll[T, L]) createJSON(ctx context.Context, body []byte) (json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, fmt.Errorf("%w: the request must be a JSON object", ErrBadRequest)
	}
	var name string
	if raw, ok := fields["name"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &name); err != nil {
			return nil, fmt.Errorf("%w: \"name\" must be a string", ErrBadRequest)
		}
	}
	in := json.RawMessage(body)
	if name == "" && r.c.generatedNames {
		name = newName("livyha-")
		fields["name"], _ = json.Marshal(name)
		var err error
		if in, err = json.Marshal(fields); err != nil {
			return nil, fmt.Errorf("livyclient: encoding request: %w", err)
		}
	}
	var out json.RawMessage
	if err := r.c.create(ctx, r.name, name, in, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (r coll[T, L]) get(ctx context.Context, key string) (*T, error) {
	var out T
	if err := r.c.do(ctx, http.MethodGet, r.path(key), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (r coll[T, L]) list(ctx context.Context, opts *ListOptions) (*L, error) {
	var out L
	if err := r.c.do(ctx, http.MethodGet, "/"+r.name+listQuery(opts), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (r coll[T, L]) state(ctx context.Context, key string) (SessionState, error) {
	var st State
	if err := r.c.do(ctx, http.MethodGet, r.path(key)+"/state", nil, &st); err != nil {
		return "", err
	}
	return st.State, nil
}

func (r coll[T, L]) log(ctx context.Context, key string, opts *LogOptions) (*Log, error) {
	var l Log
	if err := r.c.do(ctx, http.MethodGet, r.path(key)+"/log"+logQuery(opts), nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

func (r coll[T, L]) delete(ctx context.Context, key string) error {
	return r.c.do(ctx, http.MethodDelete, r.path(key), nil, nil)
}

func (r coll[T, L]) wait(ctx context.Context, id int, until []SessionState) (*T, error) {
	if _, err := r.c.waitState(ctx, r.name, id, until); err != nil {
		return nil, err
	}
	return r.get(ctx, idKey(id))
}

// BatchesService is /batches.
type BatchesService struct{ r coll[Batch, BatchList] }

// Create submits a batch. Without a name one is generated (unless
// WithGeneratedNames(false)), so that a create interrupted by a failover
// is found, not duplicated. req is not modified.
func (s *BatchesService) Create(ctx context.Context, req *CreateBatchRequest) (*Batch, error) {
	r := *req
	return s.r.create(ctx, &r.Name, &r)
}

// CreateJSON is Create for a request the caller has encoded — a JSON
// object, sent as it is (fields livyclient does not know included) except
// that one without a name (absent, null or "") gets a generated one unless
// WithGeneratedNames(false) — with Create's guarantee against duplicates.
// It returns Livy's answer: the batch's view. A body that is not a JSON
// object is an error matching ErrBadRequest; nothing is sent.
func (s *BatchesService) CreateJSON(ctx context.Context, body []byte) (json.RawMessage, error) {
	return s.r.createJSON(ctx, body)
}

// Get returns batch id.
func (s *BatchesService) Get(ctx context.Context, id int) (*Batch, error) {
	return s.r.get(ctx, idKey(id))
}

// GetByName returns the batch named name (Livy accepts a name in place of
// the id); it is ByName(name).Get, routed as NamedBatch says.
func (s *BatchesService) GetByName(ctx context.Context, name string) (*Batch, error) {
	return s.ByName(name).Get(ctx)
}

// List returns a page of batches.
func (s *BatchesService) List(ctx context.Context, opts *ListOptions) (*BatchList, error) {
	return s.r.list(ctx, opts)
}

// State returns the batch's state.
func (s *BatchesService) State(ctx context.Context, id int) (SessionState, error) {
	return s.r.state(ctx, idKey(id))
}

// Log returns log lines of the batch.
func (s *BatchesService) Log(ctx context.Context, id int, opts *LogOptions) (*Log, error) {
	return s.r.log(ctx, idKey(id), opts)
}

// Delete kills and deletes the batch.
func (s *BatchesService) Delete(ctx context.Context, id int) error { return s.r.delete(ctx, idKey(id)) }

// Wait polls until the batch is in one of the states until (default: any
// finished state) and returns it.
func (s *BatchesService) Wait(ctx context.Context, id int, until ...SessionState) (*Batch, error) {
	return s.r.wait(ctx, id, until)
}

// SessionsService is /sessions (interactive sessions).
type SessionsService struct{ r coll[Session, SessionList] }

// Create starts an interactive session; see BatchesService.Create about
// names.
//
// A field that every known server's Livy release rejects (ttl before
// 0.8, idleTimeout before 0.9) is an error matching ErrBadRequest that
// names the release, and nothing is sent; the release is known from the
// servers' records (livyha's layout publishes it; SNAPSHOT builds and
// other layouts are left to the server).
func (s *SessionsService) Create(ctx context.Context, req *CreateSessionRequest) (*Session, error) {
	r := *req
	if err := s.r.c.checkSessionFields(&r); err != nil {
		return nil, &CreateError{Name: r.Name, Err: err}
	}
	return s.r.create(ctx, &r.Name, &r)
}

// CreateJSON is BatchesService.CreateJSON for an interactive session.
func (s *SessionsService) CreateJSON(ctx context.Context, body []byte) (json.RawMessage, error) {
	return s.r.createJSON(ctx, body)
}

// Get returns session id.
func (s *SessionsService) Get(ctx context.Context, id int) (*Session, error) {
	return s.r.get(ctx, idKey(id))
}

// GetByName returns the session named name; it is ByName(name).Get,
// routed as NamedBatch says.
func (s *SessionsService) GetByName(ctx context.Context, name string) (*Session, error) {
	return s.ByName(name).Get(ctx)
}

// List returns a page of sessions.
func (s *SessionsService) List(ctx context.Context, opts *ListOptions) (*SessionList, error) {
	return s.r.list(ctx, opts)
}

// State returns the session's state.
func (s *SessionsService) State(ctx context.Context, id int) (SessionState, error) {
	return s.r.state(ctx, idKey(id))
}

// Log returns log lines of the session.
func (s *SessionsService) Log(ctx context.Context, id int, opts *LogOptions) (*Log, error) {
	return s.r.log(ctx, idKey(id), opts)
}

// Delete stops and deletes the session.
func (s *SessionsService) Delete(ctx context.Context, id int) error {
	return s.r.delete(ctx, idKey(id))
}

// Wait polls until the session is in one of the states until (for example
// StateIdle) and returns it. Without states it waits for a finished state.
func (s *SessionsService) Wait(ctx context.Context, id int, until ...SessionState) (*Session, error) {
	return s.r.wait(ctx, id, until)
}

// StatementsService is /sessions/{id}/statements.
type StatementsService struct{ c *Client }

func stmtPath(sessionID int) string { return stmtPathKey(idKey(sessionID)) }

func stmtPathKey(key string) string { return "/sessions/" + key + "/statements" }

// Run submits code to an idle session. A statement that was sent but not
// answered (a failover at that moment) is not repeated: the error wraps
// ErrAmbiguous and the caller decides.
//
// A session that is not ready yet — starting, or recovering after a
// failover until its driver reconnects — makes Livy answer 500
// "java.lang.IllegalStateException: Session is in state …" and run
// nothing; Run then waits (polling the session's state, bounded by ctx and
// the retry policy's MaxElapsed) and posts again, so a statement sent
// right through a failover succeeds.
func (s *StatementsService) Run(ctx context.Context, sessionID int, req *StatementRequest) (*Statement, error) {
	var st Statement
	if err := s.run(ctx, sessionID, req, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// RunJSON is Run for a request the caller has encoded (a JSON object, sent
// as it is), with Run's waiting for a session that is not ready. It
// returns Livy's answer: the statement's view. A body that is not a JSON
// object is an error matching ErrBadRequest; nothing is sent.
func (s *StatementsService) RunJSON(ctx context.Context, sessionID int, body []byte) (json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, fmt.Errorf("%w: the request must be a JSON object", ErrBadRequest)
	}
	var out json.RawMessage
	if err := s.run(ctx, sessionID, json.RawMessage(body), &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *StatementsService) run(ctx context.Context, sessionID int, in, out any) error {
	var deadline time.Time
	for {
		err := s.c.do(ctx, http.MethodPost, stmtPath(sessionID), in, out)
		if err == nil {
			return nil
		}
		if !notReady(err) {
			return err
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(max(s.c.transport.policy.MaxElapsed, time.Second))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("livyclient: session %d did not become ready within %s: %w", sessionID, s.c.transport.policy.MaxElapsed, err)
		}
		s.c.log.Info("livyclient: session not ready; waiting before posting the statement", "session", sessionID, "err", err)
		if werr := s.c.waitReady(ctx, sessionID, deadline); werr != nil {
			return werr
		}
	}
}

// notReady reports Livy's 500 for a statement posted to a session that is
// not running yet (InteractiveSession.ensureRunning: nothing was executed).
func notReady(err error) bool {
	var le *Error
	if !errors.As(err, &le) || le.StatusCode != http.StatusInternalServerError {
		return false
	}
	for _, st := range []string{"not_started", "starting", "recovering"} {
		if strings.Contains(le.Message, "Session is in state "+st) {
			return true
		}
	}
	return false
}

// waitReady polls a session until it leaves the states in which Livy
// refuses statements, ctx ends or deadline passes.
func (c *Client) waitReady(ctx context.Context, id int, deadline time.Time) error {
	t := time.NewTimer(c.pollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		sess, err := c.Sessions.Get(ctx, id)
		if err != nil {
			return err
		}
		switch sess.State {
		case StateNotStarted, StateStarting, StateRecovering:
		default:
			return nil // ready, or finished: the next post says which
		}
		if time.Now().After(deadline) {
			return nil
		}
		t.Reset(c.pollInterval)
	}
}

// Get returns one statement.
func (s *StatementsService) Get(ctx context.Context, sessionID, statementID int) (*Statement, error) {
	return s.get(ctx, idKey(sessionID), statementID)
}

func (s *StatementsService) get(ctx context.Context, key string, statementID int) (*Statement, error) {
	var st Statement
	if err := s.c.do(ctx, http.MethodGet, stmtPathKey(key)+"/"+strconv.Itoa(statementID), nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// List returns all the session's statements, oldest first.
func (s *StatementsService) List(ctx context.Context, sessionID int) (*StatementList, error) {
	return s.list(ctx, idKey(sessionID), nil)
}

// ListWithOptions returns a page of the session's statements: opts.From
// and opts.Size select it, after opts.Desc has reversed the list (newest
// first). Livy 0.7 (and PR #212, on 0.7's servlets) ignores order=desc
// and pages the list oldest first; see StatementListOptions.
func (s *StatementsService) ListWithOptions(ctx context.Context, sessionID int, opts *StatementListOptions) (*StatementList, error) {
	return s.list(ctx, idKey(sessionID), opts)
}

func (s *StatementsService) list(ctx context.Context, key string, opts *StatementListOptions) (*StatementList, error) {
	var l StatementList
	if err := s.c.do(ctx, http.MethodGet, stmtPathKey(key)+opts.query(), nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// StatementListOptions page GET /sessions/{id}/statements
// (InteractiveSessionServlet.scala@0.9:144-160). Livy's defaults: from 0,
// size all of them, oldest first. The page is the list's slice [From,
// From+Size): a From past the end gives an empty page, total_statements
// still counts every statement.
type StatementListOptions struct {
	From int // first statement of the page (0: the first); sent when > 0
	Size int // page size (0: Livy's default, all); sent when > 0
	// Desc sends order=desc: the list is reversed, newest first, before
	// it is paged (Livy 0.8 and later, @0.8:120-135). Livy 0.7 and PR
	// #212 ignore the parameter (@0.7:105-116): the page is then taken
	// oldest first, and no error says so.
	Desc bool
}

func (o *StatementListOptions) query() string {
	if o == nil {
		return ""
	}
	q := pageValues(o.From, o.Size)
	if o.Desc {
		q.Set("order", "desc")
	}
	return encodeQuery(q)
}

// CompletionRequest is the body of POST /sessions/{id}/completion (Livy's
// CompletionRequest, msgs.scala@0.9:63; the same in 0.7 and 0.8).
type CompletionRequest struct {
	Code string `json:"code"`
	// Kind is the interpreter to ask: spark (scala), pyspark (python),
	// sparkr (r) or sql. Livy requires it, whatever the session's kind:
	// without it the driver fails with "Invalid kind: null" (a 500).
	Kind string `json:"kind,omitempty"`
	// Cursor is the offset in Code at which to complete.
	Cursor int `json:"cursor"`
}

// Complete asks the session's interpreter for completions of req.Code at
// req.Cursor (POST /sessions/{id}/completion, in every Livy release since
// 0.7: InteractiveSessionServlet.scala@0.7:138-143, @0.9:182-187).
// Only the Scala interpreter (kind spark) has a completer; the others
// answer no candidates (repl/Interpreter.scala@0.9:50-51). Like a
// statement, it needs a running session: a starting or recovering one
// answers 500 "java.lang.IllegalStateException: Session is in state …",
// which Complete returns (it does not wait, unlike Run). A completion has
// no effect but the session's activity time, yet it is a POST: a request
// cut by a failover is returned as an ErrAmbiguous error, and may simply
// be sent again.
func (s *StatementsService) Complete(ctx context.Context, sessionID int, req *CompletionRequest) ([]string, error) {
	var out struct {
		Candidates []string `json:"candidates"`
	}
	if err := s.c.do(ctx, http.MethodPost, "/sessions/"+idKey(sessionID)+"/completion", req, &out); err != nil {
		return nil, err
	}
	if out.Candidates == nil {
		out.Candidates = []string{}
	}
	return out.Candidates, nil
}

// Cancel cancels a statement.
func (s *StatementsService) Cancel(ctx context.Context, sessionID, statementID int) error {
	return s.c.do(ctx, http.MethodPost, stmtPath(sessionID)+"/"+strconv.Itoa(statementID)+"/cancel", nil, nil)
}

// Wait polls until the statement is available or cancelled.
func (s *StatementsService) Wait(ctx context.Context, sessionID, statementID int) (*Statement, error) {
	var st *Statement
	err := s.c.poll(ctx, func() (bool, error) {
		var err error
		st, err = s.Get(ctx, sessionID, statementID)
		return err == nil && st.State.Finished(), err
	})
	return st, err
}
