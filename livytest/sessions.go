package livytest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/livyha/livyha/discovery"
)

// ---- sessions: memory (authoritative) and the state store (write-through) ----
//
// In active-active mode there is no memory: every read and write goes to
// the store (shared.go), and the functions below dispatch to it.

// Errors of active-active writes (version-checked, shared.go).
var (
	// errConflict: the record changed since it was read; read it again.
	errConflict = errors.New("session record changed concurrently")
	// errGone: the record was deleted since it was read.
	errGone = errors.New("session record deleted concurrently")
	// errDuplicateName: another session holds the name.
	errDuplicateName = errors.New("duplicate session name")
)

// load reads one record from the state store, with the version it was
// read at; nil when it does not exist or does not decode (Livy skips
// records it cannot read). Recovery reads the store, and so does every
// request in active-active mode.
func (s *Server) load(typ string, id int) (record, error) {
	data, version, err := s.st.kv.Get(s.st.path(typ, id))
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rec, err := decodeRecord(typ, data)
	if err != nil || rec.sessionID() != id {
		s.log.Warn("livytest: skipping unreadable session record", "type", typ, "id", id, "err", err)
		return nil, nil
	}
	rec.meta().zver = version
	return rec, nil
}

// owns reports whether this server owns session id by its prefix (always,
// except in multi-active and session-HA mode; see also ownsAtRecovery).
func (s *Server) owns(id int) bool {
	return !s.st.multi || id/discovery.SessionIDBlock == s.cfg.ID
}

// recovered applies, at recovery, what Livy's recovery does to a record
// written by another server process, and reports whether this server
// knows the session at all:
//   - a batch without file never reached Livy's store: unknown;
//   - a batch that died before this server became active was removed from
//     the store when it died: unknown;
//   - an interactive session whose RSC driver was not up yet when this
//     server became active is recovered as dead.
//
// Records of this server process itself are known as they are (its own
// memory held them).
func (s *Server) recovered(r record) bool {
	return s.recoveredSince(r, time.UnixMilli(s.activeSince.Load()))
}

// recoveredSince is recovered for a server that became responsible for r
// at since: when it became active, or, with session HA, when the leader
// reassigned r to it (a takeover of that one session).
//
// In the Livy profiles the rules apply to this server's own records too
// (PR #212's restart recovers its own sessions from the store like any
// other, SessionManager.scala@PR212:89-94), a killed batch is gone as a
// failed one is, and so is an interactive session whose conf hook ended
// it; every recovered session is marked recovering (recoveredAt).
func (s *Server) recoveredSince(r record, since time.Time) bool {
	m := r.meta()
	if m.Incarnation == s.incarnation && !s.lc {
		return true
	}
	step := m.step(s.cfg.Step)
	switch r := r.(type) {
	case *batchRecord:
		if r.Sim.NoFile || (r.failed() && r.finishedAt(step).Before(since)) {
			return false
		}
		if s.lc && r.removedFromStore(since, step) {
			return false
		}
	case *interactiveRecord:
		if s.lc && r.removedFromStore(since, step) {
			return false
		}
		if ms(m.Created).Add(sessionUpSteps * step).After(since) {
			r.recoveredDead = true
		}
	}
	if s.lc {
		m.lc, m.recoveredAt = true, since
	}
	return true
}

// sessionsOf returns the sessions of typ this server knows, in id order
// (active-active: every session in the store).
func (s *Server) sessionsOf(typ string) ([]record, error) {
	if s.shared {
		return s.sharedList(typ)
	}
	return s.mem.list(typ), nil
}

// find resolves the {id} path parameter among the sessions this server
// knows: all digits → by id, otherwise by name (Livy's doWithSession).
// In active-active mode it reads the store.
func (s *Server) find(typ, idOrName string) (record, *apiError) {
	r, aerr := s.lookup(typ, idOrName)
	if aerr != nil {
		return nil, aerr
	}
	s.heartbeat(typ, r.sessionID())
	return r, nil
}

// lookup is find without the heartbeat.
func (s *Server) lookup(typ, idOrName string) (record, *apiError) {
	notFound := errMsg(http.StatusNotFound, "Session '%s' not found.", idOrName)
	var (
		r   record
		err error
	)
	if allDigits(idOrName) {
		id, ok := javaParseInt(idOrName)
		if !ok {
			return nil, numberFormat(idOrName)
		}
		if s.shared {
			r, err = s.sharedGet(typ, id)
		} else {
			r = s.mem.get(typ, id)
		}
	} else if s.shared {
		r, err = s.sharedByName(typ, idOrName)
	} else {
		r = s.mem.byName(typ, idOrName)
	}
	if err != nil {
		return nil, storeError(err)
	}
	if r == nil {
		return nil, notFound
	}
	return r, nil
}

// ---- impersonation (Config.Impersonation) ----

// doAs is SessionServlet.impersonatedUser: request.getParameter("doAs").
func (c *call) doAs() *string {
	if vs := c.r.URL.Query()["doAs"]; len(vs) > 0 {
		return &vs[0]
	}
	return nil
}

// superAccess is AccessManager.hasSuperAccess(target, remote user):
// the user itself, a superuser, or no authenticated user at all
// (checkSuperUser(null) is true, AccessManager.scala@0.9:73-80).
func (c *call) superAccess(target string) bool {
	if c.user == nil {
		return true
	}
	su := c.s.cfg.SuperUsers
	return *c.user == target || slices.Contains(su, "*") || slices.Contains(su, *c.user)
}

func (c *call) notAllowed(target string) *apiError {
	user := "null"
	if c.user != nil {
		user = *c.user
	}
	return errMsg(http.StatusForbidden, "User '%s' not allowed to impersonate 'Some(%s)'.", user, target)
}

// deniedDoAs is the AccessControlException of effectiveUser for a doAs
// the user may not impersonate (nil when allowed, absent, or with
// impersonation off).
func (c *call) deniedDoAs() *apiError {
	if !c.s.cfg.Impersonation {
		return nil
	}
	if t := c.doAs(); t != nil && !c.superAccess(*t) {
		return c.notAllowed(*t)
	}
	return nil
}

// proxyUserFor is a create's accessManager.checkImpersonation(
// proxyUser(request, body), owner): doAs wins over the body's proxyUser;
// with impersonation on, the job runs as that target or else as the
// owner; off, proxyUser is None (AccessManager.scala@0.9:108-120).
func (c *call) proxyUserFor(body *string) (*string, *apiError) {
	if !c.s.cfg.Impersonation {
		return nil, nil
	}
	t := c.doAs()
	if t == nil {
		t = body
	}
	if t == nil {
		return c.user, nil
	}
	if !c.superAccess(*t) {
		return nil, c.notAllowed(*t)
	}
	return t, nil
}

func idString(id int) string { return strconv.Itoa(id) }

// nameTaken reports whether a session of typ this server knows is called
// name. As in Livy the check is against the server's memory: in
// active-passive mode that is everything recovered at the takeover plus
// what this server created since — a session a deposed active committed
// after the takeover is not seen; in multi-active and session-HA mode
// names are per server. In active-active mode it asks the store's name
// index (and create claims the name atomically, so a race is caught too).
func (s *Server) nameTaken(typ, name string) (bool, error) {
	if s.shared {
		return s.sharedNameTaken(typ, name)
	}
	return s.mem.byName(typ, name) != nil, nil
}

func (s *Server) meta(now time.Time) simMeta {
	return simMeta{Created: now.UnixMilli(), Server: s.cfg.ID, Incarnation: s.incarnation, StepNS: int64(s.cfg.Step), lc: s.lc}
}

// create writes a new session to the store, then to memory. With session
// HA its ownership record comes first, so that any session committed to
// the store has one. The caller holds s.mu (except in active-active mode,
// where sharedCreate claims the name atomically instead). It returns
// errDuplicateName when active-active's claim finds the name taken.
func (s *Server) create(typ string, r record) error {
	if s.shared {
		return s.sharedCreate(typ, r)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if s.sessHA {
		if err := s.claimOwnership(typ, r.sessionID()); err != nil {
			return fmt.Errorf("ownership record: %w", err)
		}
	}
	if s.st.livy {
		// SessionStore.save → ZooKeeperManager.set: whatever holds the id
		// is overwritten (a deposed active's stale counter reuses ids).
		err = s.st.setBlind(s.st.path(typ, r.sessionID()), data)
	} else {
		err = s.st.kv.Create(s.st.path(typ, r.sessionID()), data)
	}
	if errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("session record %d already exists (state-store counter behind?)", r.sessionID())
	}
	if err != nil {
		return err
	}
	s.mem.put(typ, r)
	s.touchNew(typ, r)
	return nil
}

// save writes a changed session (a new record value, never one already in
// memory modified in place) to the store and memory. Like Livy's
// ZooKeeperStateStore.set it overwrites whatever the store holds, and
// creates the node if it is gone. The caller holds s.mu. In active-active
// mode it writes only if the record is still at the version r was read at
// (errConflict: read again; errGone: deleted meanwhile).
func (s *Server) save(typ string, r record) error {
	if s.shared {
		return s.sharedSave(typ, r)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	p := s.st.path(typ, r.sessionID())
	err = s.st.kv.Set(p, data, -1)
	if errors.Is(err, zk.ErrNoNode) {
		err = s.st.kv.Create(p, data)
	}
	if err != nil {
		return err
	}
	s.mem.put(typ, r)
	return nil
}

// remove deletes a session from the store (a missing node is fine, as in
// Livy) and from memory, then (session HA) its ownership record. The
// caller holds s.mu. In active-active mode the delete is version-checked
// (errConflict, errGone) and frees the name.
func (s *Server) remove(typ string, r record) error {
	if s.shared {
		return s.sharedRemove(typ, r)
	}
	id := r.sessionID()
	if err := s.st.kv.Delete(s.st.path(typ, id), -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
		return err
	}
	s.mem.remove(typ, id)
	if s.sessHA {
		if err := s.dropOwnership(typ, id); err != nil {
			return fmt.Errorf("ownership record: %w", err)
		}
	}
	return nil
}

// ---- handlers common to /batches and /sessions ----

func pathOf(typ string) string {
	if typ == typeBatch {
		return "/batches/"
	}
	return "/sessions/"
}

func (s *Server) view(r record, now time.Time) any {
	step := r.meta().step(s.cfg.Step)
	switch r := r.(type) {
	case *batchRecord:
		return r.view(now, step, &s.prof.surf)
	case *interactiveRecord:
		return r.view(now, step, &s.prof.surf)
	}
	return nil
}

func stateOf(r record, now time.Time, def time.Duration) string {
	step := r.meta().step(def)
	switch r := r.(type) {
	case *batchRecord:
		return r.state(now, step)
	case *interactiveRecord:
		return r.state(now, step)
	}
	return ""
}

func logOf(r record, now time.Time, def time.Duration) []string {
	step := r.meta().step(def)
	switch r := r.(type) {
	case *batchRecord:
		return r.logLines(now, step)
	case *interactiveRecord:
		return r.logLines(now, step)
	}
	return nil
}

type listView struct {
	From     int   `json:"from"`
	Total    int   `json:"total"`
	Sessions []any `json:"sessions"`
}

func (c *call) list(typ string) {
	from, aerr := c.queryInt("from", 0)
	if aerr == nil {
		var size int
		if size, aerr = c.queryInt("size", 100); aerr == nil {
			all, err := c.s.sessionsOf(typ)
			if err != nil {
				c.fail(storeError(err))
				return
			}
			now := time.Now()
			lo, hi := clamp(len(all), from, from+size)
			if aerr := c.deniedDoAs(); aerr != nil && lo < hi {
				// Each view checks the effective user (clientSessionView).
				c.fail(aerr)
				return
			}
			out := listView{From: from, Total: len(all), Sessions: []any{}}
			for _, r := range all[lo:hi] {
				out.Sessions = append(out.Sessions, c.s.view(r, now))
			}
			c.json(http.StatusOK, out)
			return
		}
	}
	c.fail(aerr)
}

func (c *call) get(typ, idOrName string) {
	r, aerr := c.s.find(typ, idOrName)
	if aerr != nil {
		c.fail(aerr)
		return
	}
	c.json(http.StatusOK, c.s.view(r, time.Now()))
}

type stateView struct {
	ID    int    `json:"id"`
	State string `json:"state"`
}

func (c *call) state(typ, idOrName string) {
	r, aerr := c.s.find(typ, idOrName)
	if aerr != nil {
		c.fail(aerr)
		return
	}
	c.json(http.StatusOK, stateView{ID: r.sessionID(), State: stateOf(r, time.Now(), c.s.cfg.Step)})
}

type logView struct {
	ID    int      `json:"id"`
	From  int      `json:"from"`
	Total int      `json:"total"`
	Log   []string `json:"log"`
}

// logs is Livy's serializeLogs: size defaults to 100 (negative: all),
// from defaults to the tail.
func (c *call) logs(typ, idOrName string) {
	r, aerr := c.s.find(typ, idOrName)
	if aerr != nil {
		c.fail(aerr)
		return
	}
	from, aerr := c.queryInt("from", -1)
	if aerr != nil {
		c.fail(aerr)
		return
	}
	size, aerr := c.queryInt("size", 100)
	if aerr != nil {
		c.fail(aerr)
		return
	}
	lines := logOf(r, time.Now(), c.s.cfg.Step)
	if size < 0 {
		size = len(lines)
	}
	if from < 0 {
		from = max(0, len(lines)-size)
	}
	lo, hi := clamp(len(lines), from, from+size)
	c.json(http.StatusOK, logView{ID: r.sessionID(), From: from, Total: len(lines), Log: append([]string{}, lines[lo:hi]...)})
}

func (c *call) delete(typ, idOrName string) {
	s := c.s
	if s.lc {
		c.livyDelete(typ, idOrName)
		return
	}
	unlock, ok := c.lockForWrite()
	if !ok {
		return
	}
	defer unlock()
	for {
		r, aerr := s.find(typ, idOrName)
		if aerr != nil {
			c.fail(aerr)
			return
		}
		if !c.ownsForWrite(typ, r.sessionID()) {
			return
		}
		err := s.remove(typ, r)
		switch {
		case errors.Is(err, errConflict):
			continue // changed meanwhile (active-active): look again
		case errors.Is(err, errGone):
			// Another server deleted it first: Livy's answer to a
			// delete that lost the race (SessionServlet.scala:110-121).
			c.fail(errMsg(http.StatusNotFound, "Session %d already stopped.", r.sessionID()))
			return
		case err != nil:
			c.fail(storeError(err))
			return
		}
		c.json(http.StatusOK, msgBody{Msg: "deleted"})
		return
	}
}

// livyDelete is DELETE in the Livy profiles: SessionManager.delete stops
// the session and waits for it (an interactive one is shutting_down
// meanwhile, and its store record is already gone), then removes it from
// the store and from memory (SessionServlet.scala@0.9:110-121,
// SessionManager.scala@0.9:134-151). A session already being stopped is
// waited for and deleted again, as Livy's second delete of the same
// session does.
func (c *call) livyDelete(typ, idOrName string) {
	s := c.s
	r, aerr := s.find(typ, idOrName)
	if aerr != nil {
		c.fail(aerr)
		return
	}
	s.heartbeat(typ, r.sessionID())
	if err := s.stopAndRemove(typ, r.sessionID()); err != nil {
		c.fail(storeError(err))
		return
	}
	c.json(http.StatusOK, msgBody{Msg: "deleted"})
}

// validName is Livy's Session name check: a name must not be all digits
// (the empty name counts as all digits).
func validName(n string) bool { return !allDigits(n) }

// checkName applies Livy's create-time name rules after the id has been
// taken: invalid (all digits) and duplicate names are rejected.
func (c *call) checkName(typ string, name *string, id int) *apiError {
	if name == nil {
		return nil
	}
	if !validName(*name) {
		return c.s.rejected("Invalid session name: " + *name)
	}
	taken, err := c.s.nameTaken(typ, *name)
	if err != nil {
		return storeError(err)
	}
	if taken {
		return c.s.duplicateName(*name, id)
	}
	return nil
}

func (s *Server) duplicateName(name string, id int) *apiError {
	return s.rejected(fmt.Sprintf("Duplicate session name: Some(%s) for session %d", name, id))
}

// rejected is the 400 of an IllegalArgumentException thrown while a
// session is created: {"msg":"Rejected, Reason: <msg>"} from 0.8 on
// (SessionServlet.scala@0.8:142-145); before, the servlet's error handler
// answers {"msg":"<msg>"} (SessionServlet.scala@0.7:153-156).
func (s *Server) rejected(msg string) *apiError {
	if s.prof.surf.rejected {
		msg = "Rejected, Reason: " + msg
	}
	return errMsg(http.StatusBadRequest, "%s", msg)
}

// createError answers a failed create: a name another server claimed
// first (active-active) is Livy's duplicate-name rejection.
func (c *call) createError(err error, r record) {
	if errors.Is(err, errDuplicateName) {
		c.fail(c.s.duplicateName(*r.sessionName(), r.sessionID()))
		return
	}
	c.fail(storeError(err))
}

func (c *call) created(typ string, r record, now time.Time) {
	c.w.Header().Set("Location", pathOf(typ)+strconv.Itoa(r.sessionID()))
	c.json(http.StatusCreated, c.s.view(r, now))
}

// beginWrite reads and parses a create request, runs the
// AbortBeforeCommit seam and takes the write lock. When it reports false it
// has answered (or aborted) and holds no lock; otherwise the caller must
// call unlock.
func beginWrite[T any](c *call, parse func([]byte) (T, *apiError)) (req T, unlock func(), ok bool) {
	body, aerr := c.body()
	if aerr != nil {
		c.fail(aerr)
		return req, nil, false
	}
	req, aerr = parse(body)
	if aerr != nil {
		c.fail(aerr)
		return req, nil, false
	}
	if c.abortBeforeCommit() {
		return req, nil, false
	}
	unlock, ok = c.lockForWrite()
	return req, unlock, ok
}

func (c *call) createBatch() {
	s := c.s
	req, unlock, ok := beginWrite(c, parseCreateBatch)
	if !ok {
		return
	}
	defer unlock()
	id, err := s.st.nextID(typeBatch)
	if err != nil {
		c.fail(storeError(err))
		return
	}
	proxyUser, aerr := c.proxyUserFor(req.ProxyUser) // BatchSession.scala@0.9:66
	if aerr != nil {
		c.fail(aerr)
		return
	}
	if aerr := c.checkName(typeBatch, req.Name, id); aerr != nil {
		c.fail(aerr)
		return
	}
	now := time.Now()
	rec := &batchRecord{
		ID: id, Name: req.Name, AppTag: fmt.Sprintf("livy-batch-%d-%s", id, randomAlnum(8)),
		Owner: c.user, ProxyUser: proxyUser, Version: 1,
		Sim: batchSim{simMeta: s.meta(now), ClassName: req.ClassName, Args: orEmpty(req.Args)},
	}
	if req.File == nil {
		rec.Sim.NoFile = true
	} else {
		rec.Sim.File = *req.File
	}
	if rec.Sim.NoFile && s.shared {
		// Such a batch never reaches Livy's store; with no memory
		// (active-active) nothing keeps it.
		c.fail(s.rejected("requirement failed: File is required."))
		return
	}
	if err := s.create(typeBatch, rec); err != nil {
		c.createError(err, rec)
		return
	}
	if rec.Sim.NoFile {
		// Livy registers the session before start() fails the requirement.
		c.fail(s.rejected("requirement failed: File is required."))
		return
	}
	if c.abortAfterCommit() {
		return
	}
	c.created(typeBatch, rec, now)
}

func (c *call) createInteractive() {
	s := c.s
	req, unlock, ok := beginWrite(c, func(b []byte) (*createInteractiveRequest, *apiError) {
		return parseCreateInteractive(b, s.prof.surf.interactiveFields())
	})
	if !ok {
		return
	}
	defer unlock()
	id, err := s.st.nextID(typeInteractive)
	if err != nil {
		c.fail(storeError(err))
		return
	}
	for _, t := range []*string{req.TTL, req.IdleTimeout} {
		if t != nil {
			if msg := checkTimeString(*t); msg != "" {
				c.fail(s.rejected(msg))
				return
			}
		}
	}
	proxyUser, aerr := c.proxyUserFor(req.ProxyUser) // InteractiveSession.scala@0.9:95
	if aerr != nil {
		c.fail(aerr)
		return
	}
	if aerr := c.checkName(typeInteractive, req.Name, id); aerr != nil {
		c.fail(aerr)
		return
	}
	now := time.Now()
	conf := req.Conf
	if conf == nil {
		conf = map[string]string{}
	}
	rsc := fmt.Sprintf("rsc://127.0.0.1:0/livytest-%d", id)
	rec := &interactiveRecord{
		ID: id, Name: req.Name, AppTag: fmt.Sprintf("livy-session-%d-%s", id, randomAlnum(8)),
		Kind: req.Kind, HeartbeatTimeoutS: req.HeartbeatTimeoutInSecond, Owner: c.user, ProxyUser: proxyUser,
		TTL: req.TTL, IdleTimeout: req.IdleTimeout,
		DriverMemory: req.DriverMemory, DriverCores: req.DriverCores,
		ExecutorMemory: req.ExecutorMemory, ExecutorCores: req.ExecutorCores,
		Conf: conf, Archives: orEmpty(req.Archives), Files: orEmpty(req.Files), Jars: orEmpty(req.Jars),
		NumExecutors: req.NumExecutors, PyFiles: orEmpty(req.PyFiles), Queue: req.Queue,
		RSCDriverURI: &rsc, Version: 1,
		Sim: interactiveSim{simMeta: s.meta(now), Statements: []stmtRecord{}},
	}
	if err := s.create(typeInteractive, rec); err != nil {
		c.createError(err, rec)
		return
	}
	if c.abortAfterCommit() {
		return
	}
	c.created(typeInteractive, rec, now)
}

// ---- statements ----

// serverSideState is the state Livy's ensureRunning reports
// (InteractiveSession.scala@0.9:683-689).
func serverSideState(r *interactiveRecord, now time.Time, step time.Duration) string {
	return r.serverSide(now, step)
}

func notRunning(state string) *apiError {
	return errString(http.StatusInternalServerError, "java.lang.IllegalStateException: Session is in state "+state)
}

// rpcError is how an exception thrown in the Livy driver reaches the REST
// client: a 500 whose body is the ExecutionException's toString.
func rpcError(exception string) *apiError {
	return rpcErrorAt("org.apache.livy.repl.Session.execute(Session.scala)", exception)
}

// rpcErrorAt is rpcError for an exception thrown at frame.
func rpcErrorAt(frame, exception string) *apiError {
	return errString(http.StatusInternalServerError,
		"java.util.concurrent.ExecutionException: org.apache.livy.rsc.rpc.RpcException: "+exception+
			"\n\tat "+frame)
}

func (c *call) findInteractive(idOrName string) (*interactiveRecord, *apiError) {
	r, aerr := c.s.find(typeInteractive, idOrName)
	if aerr != nil {
		return nil, aerr
	}
	return r.(*interactiveRecord), nil
}

// withStatements returns a copy of r with its own statement list, for a
// change that is then saved (records in memory are never modified).
func (r *interactiveRecord) withStatements() *interactiveRecord {
	cp := *r
	cp.Sim.Statements = slices.Clone(r.Sim.Statements)
	return &cp
}

func (c *call) createStatement(idOrName string) {
	req, unlock, ok := beginWrite(c, parseExecute)
	if !ok {
		return
	}
	defer unlock()
	for {
		done, err := c.tryStatement(idOrName, req)
		if done {
			return
		}
		if !errors.Is(err, errConflict) {
			c.fail(storeError(err))
			return
		}
		// Changed by another server meanwhile (active-active): apply the
		// statement to the new record.
	}
}

// tryStatement is one attempt of createStatement: it reports done once it
// has answered; otherwise err says why the commit failed.
func (c *call) tryStatement(idOrName string, req *executeRequest) (bool, error) {
	s := c.s
	old, aerr := c.findInteractive(idOrName)
	if aerr != nil {
		c.fail(aerr)
		return true, nil
	}
	if !c.ownsForWrite(typeInteractive, old.ID) {
		return true, nil
	}
	now := time.Now()
	step := old.meta().step(s.cfg.Step)
	if st := serverSideState(old, now, step); st != "running" {
		c.fail(notRunning(st))
		return true, nil
	}
	s.recordActivity(old.ID, now) // executeStatement: ensureRunning, then recordActivity
	if req.Code == nil {
		c.fail(errNPE)
		return true, nil
	}
	var kind string
	switch {
	case req.Kind != nil:
		k, ok := kindNames[*req.Kind]
		if !ok {
			c.fail(rpcError("java.lang.IllegalArgumentException: Invalid kind: " + *req.Kind))
			return true, nil
		}
		kind = k
	case old.Kind != "shared":
		kind = old.Kind
	default:
		c.fail(rpcError("java.lang.IllegalArgumentException: Code type should be specified if session kind is shared"))
		return true, nil
	}
	rec := old.withStatements()
	sid := len(rec.Sim.Statements)
	rec.Sim.Statements = append(rec.Sim.Statements, stmtRecord{ID: sid, Code: *req.Code, Kind: kind, Created: now.UnixMilli()})
	if err := s.save(typeInteractive, rec); err != nil {
		if errors.Is(err, errGone) {
			c.fail(errMsg(http.StatusNotFound, "Session '%s' not found.", idOrName))
			return true, nil
		}
		return false, err
	}
	if c.abortAfterCommit() {
		return true, nil
	}
	c.w.Header().Set("Location", fmt.Sprintf("/sessions/%d/statements/%d", rec.ID, sid))
	c.json(http.StatusCreated, rec.statementViews(now, step)[sid])
	return true, nil
}

type statementsView struct {
	TotalStatements int             `json:"total_statements"`
	Statements      []statementView `json:"statements"`
}

func (c *call) listStatements(idOrName string) {
	rec, aerr := c.findInteractive(idOrName)
	if aerr != nil {
		c.fail(aerr)
		return
	}
	if aerr := c.ensureActive(rec); aerr != nil {
		c.fail(aerr)
		return
	}
	views := rec.statementViews(time.Now(), rec.meta().step(c.s.cfg.Step))
	if c.s.prof.surf.statementSort && strings.EqualFold(strings.TrimSpace(c.r.URL.Query().Get("order")), "desc") {
		slices.Reverse(views)
	}
	from, aerr := c.queryInt("from", 0)
	if aerr != nil {
		c.fail(aerr)
		return
	}
	size, aerr := c.queryInt("size", len(views))
	if aerr != nil {
		c.fail(aerr)
		return
	}
	lo, hi := clamp(len(views), from, from+size)
	c.json(http.StatusOK, statementsView{TotalStatements: len(views), Statements: append([]statementView{}, views[lo:hi]...)})
}

func (c *call) getStatement(idOrName, sidParam string) {
	rec, aerr := c.findInteractive(idOrName)
	if aerr != nil {
		c.fail(aerr)
		return
	}
	sid, ok := javaParseInt(sidParam)
	if !ok {
		c.fail(numberFormat(sidParam))
		return
	}
	if aerr := c.ensureActive(rec); aerr != nil {
		c.fail(aerr)
		return
	}
	for _, v := range rec.statementViews(time.Now(), rec.meta().step(c.s.cfg.Step)) {
		if v.ID == sid {
			c.json(http.StatusOK, v)
			return
		}
	}
	c.fail(errString(http.StatusNotFound, "Statement not found"))
}

func (c *call) cancelStatement(idOrName, sidParam string) {
	unlock, ok := c.lockForWrite()
	if !ok {
		return
	}
	defer unlock()
	for {
		done, err := c.tryCancel(idOrName, sidParam)
		if done {
			return
		}
		if !errors.Is(err, errConflict) {
			c.fail(storeError(err))
			return
		}
	}
}

// tryCancel is one attempt of cancelStatement (see tryStatement).
func (c *call) tryCancel(idOrName, sidParam string) (bool, error) {
	s := c.s
	old, aerr := c.findInteractive(idOrName)
	if aerr != nil {
		c.fail(aerr)
		return true, nil
	}
	sid, ok := javaParseInt(sidParam)
	if !ok {
		c.fail(numberFormat(sidParam))
		return true, nil
	}
	if !c.ownsForWrite(typeInteractive, old.ID) {
		return true, nil
	}
	now := time.Now()
	step := old.meta().step(s.cfg.Step)
	if st := serverSideState(old, now, step); st != "running" {
		c.fail(notRunning(st))
		return true, nil
	}
	s.recordActivity(old.ID, now)
	rec := old.withStatements()
	changed := false
	tl := rec.timeline(step)
	for i := range rec.Sim.Statements {
		if rec.Sim.Statements[i].ID != sid {
			continue
		}
		switch stmtStateAt(tl[i], now) {
		case "waiting", "running":
			rec.Sim.Statements[i].Cancelled = now.UnixMilli()
			changed = true
		}
	}
	if changed {
		if err := s.save(typeInteractive, rec); err != nil {
			if errors.Is(err, errGone) {
				c.fail(errMsg(http.StatusNotFound, "Session '%s' not found.", idOrName))
				return true, nil
			}
			return false, err
		}
	}
	c.json(http.StatusOK, msgBody{Msg: "canceled"})
	return true, nil
}
