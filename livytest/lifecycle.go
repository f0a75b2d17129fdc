package livytest

// ---- Livy's session lifecycle (the Livy profiles) ----
//
// In every profile but livyha a server plays what Livy's session managers
// do over a session's life, on top of the derived states of model.go:
//
//   - recovered sessions are recovering until their driver (interactive)
//     or YARN (batch) answers (InteractiveSession.recover and
//     BatchSession.recover start in Recovering);
//   - DELETE stops the session before it is forgotten: an interactive
//     session is shutting_down for a step, its store record already gone
//     (InteractiveSession.stopSession);
//   - the GC thread deletes finished sessions StateRetain after they
//     finished and interactive sessions idle for longer than their
//     timeout (SessionManager.collectGarbage, every 60s);
//   - the heartbeat watchdog deletes interactive sessions whose
//     heartbeatTimeoutInSecond passed without a request naming them
//     (SessionHeartbeatWatchdog, every livy.server.heartbeat-watchdog.interval);
//   - the conf hook livytest.app = error | killed | dead and batch files
//     whose name contains "kill" end sessions the ways YARN and the
//     driver end them (model.go).
//
// Livy time is scaled: one Config.Step stands for one second (Timeouts).
// In the pr212 profile passives run the timers too, on the sessions they
// recovered when they started, as PR #212's passives run their session
// managers (LivyServer.scala@PR212:163-164,340-344): their GC and
// watchdog remove store records of sessions the active is serving, which
// the next takeover then no longer recovers. (The driver that Livy's stop
// would also kill is not simulated: the active keeps serving its copy.)

import (
	"errors"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// activity is what a server knows of its interactive sessions beyond the
// records: Session.lastActivity (recordActivity), the heartbeat
// (SessionHeartbeat.heartbeat) and when the session object was started
// (startedOn, for 0.9's ttl check).
type activity struct {
	mu sync.Mutex
	m  map[int]*actRec
}

type actRec struct {
	last, hb, started time.Time
}

// timersOn reports whether the server runs Livy's GC and watchdog.
func (s *Server) timersOn() bool { return s.lc || s.cfg.Timeouts.GC }

func (a *activity) get(id int, now time.Time) *actRec {
	if a.m == nil {
		a.m = make(map[int]*actRec)
	}
	r := a.m[id]
	if r == nil {
		r = &actRec{last: now, hb: now, started: now}
		a.m[id] = r
	}
	return r
}

// touchNew starts the clocks of a session this server just created: Livy's
// POST calls session.recordActivity() and start() calls heartbeat()
// (SessionServlet.scala@0.9:134-138, InteractiveSession.scala@0.9:459-461).
func (s *Server) touchNew(typ string, r record) {
	if typ != typeInteractive || !s.timersOn() {
		return
	}
	now := time.Now()
	s.act.mu.Lock()
	if s.act.m == nil {
		s.act.m = make(map[int]*actRec)
	}
	s.act.m[r.sessionID()] = &actRec{last: now, hb: now, started: now}
	s.act.mu.Unlock()
}

// resetActivity restarts every clock after a recovery: recovered sessions
// are new objects (lastActivity = now) whose start() heartbeats.
func (s *Server) resetActivity() {
	if !s.timersOn() {
		return
	}
	s.act.mu.Lock()
	s.act.m = nil
	s.act.mu.Unlock()
}

// heartbeat is SessionHeartbeatNotifier: every request naming an
// interactive session (GET /sessions/{id}, its state, log, statements,
// DELETE, ...; not the list) renews its heartbeat
// (SessionHeartbeat.scala@0.9:56-79).
func (s *Server) heartbeat(typ string, id int) {
	if typ != typeInteractive || !s.timersOn() {
		return
	}
	now := time.Now()
	s.act.mu.Lock()
	s.act.get(id, now).hb = now
	s.act.mu.Unlock()
}

// recordActivity is Session.recordActivity (executeStatement, cancel).
func (s *Server) recordActivity(id int, now time.Time) {
	if !s.timersOn() {
		return
	}
	s.act.mu.Lock()
	s.act.get(id, now).last = now
	s.act.mu.Unlock()
}

func (s *Server) forgetActivity(typ string, id int) {
	if typ != typeInteractive {
		return
	}
	s.act.mu.Lock()
	delete(s.act.m, id)
	s.act.mu.Unlock()
}

// ensureActive is InteractiveSession.ensureActive, which GET statements
// run: a session that is not active answers 400 (@0.9:678-681). In the
// Livy profiles a session whose driver is not connected yet (starting,
// recovering) makes the request wait until it is, as
// getReplJobResults().get() does (@0.9:568-582); the wait ends with the
// request.
func (c *call) ensureActive(rec *interactiveRecord) *apiError {
	inactive := errMsg(400, "requirement failed: Session isn't active.")
	if !c.s.lc {
		if rec.recoveredDead {
			return inactive
		}
		return nil
	}
	step := rec.meta().step(c.s.cfg.Step)
	for {
		now := time.Now()
		switch ss := rec.serverSide(now, step); ss {
		case "shutting_down", "dead", "killed":
			return inactive
		case "starting", "recovering":
			t := time.NewTimer(step / 2)
			select {
			case <-t.C:
			case <-c.r.Context().Done():
				t.Stop()
				return errString(500, "java.lang.InterruptedException")
			}
			// The record in memory may have been replaced meanwhile.
			if cur, _ := c.s.find(typeInteractive, idString(rec.ID)); cur != nil {
				rec = cur.(*interactiveRecord)
			}
			continue
		}
		return nil
	}
}

// cloneRecord returns a shallow copy of r (records in memory are never
// modified in place).
func cloneRecord(r record) record {
	switch r := r.(type) {
	case *batchRecord:
		cp := *r
		return &cp
	case *interactiveRecord:
		cp := *r
		return &cp
	}
	return r
}

// stopAndRemove is SessionManager.delete in the Livy profiles: the
// session is stopped (an interactive one shutting_down for a step, its
// store record removed at once), then its record is removed (again) and
// the session forgotten. It returns once the session is gone.
func (s *Server) stopAndRemove(typ string, id int) error {
	until, err := s.beginStop(typ, id)
	if err != nil || until.IsZero() {
		return err
	}
	t := time.NewTimer(time.Until(until))
	select {
	case <-t.C:
	case <-s.quit:
		t.Stop()
	}
	return s.finishStop(typ, id)
}

// beginStop marks session id as stopping and returns when the stop is
// over (zero when the session is unknown).
func (s *Server) beginStop(typ string, id int) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.mem.get(typ, id)
	if cur == nil {
		return time.Time{}, nil
	}
	m := cur.meta()
	step := m.step(s.cfg.Step)
	if !m.stoppingAt.IsZero() {
		return m.stoppingAt.Add(stopSteps * step), nil
	}
	cp := cloneRecord(cur)
	now := time.Now()
	cp.meta().stoppingAt = now
	s.mem.put(typ, cp)
	if typ == typeInteractive {
		// transition(ShuttingDown) removes the record (InteractiveSession.scala@0.9:665-666).
		if err := s.st.kv.Delete(s.st.path(typ, id), -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return time.Time{}, err
		}
	}
	return now.Add(stopSteps * step), nil
}

// finishStop removes a stopped session from the store and from memory.
func (s *Server) finishStop(typ string, id int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mem.get(typ, id) == nil {
		return nil
	}
	if err := s.st.kv.Delete(s.st.path(typ, id), -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
		return err
	}
	s.mem.remove(typ, id)
	s.forgetActivity(typ, id)
	return nil
}

// startTimers starts the GC and the heartbeat watchdog when the profile
// has them (timersOn).
func (s *Server) startTimers() {
	if !s.timersOn() || s.shared {
		return
	}
	s.bg.Add(1)
	go s.timers()
}

func (s *Server) timers() {
	defer s.bg.Done()
	to := s.cfg.Timeouts.withDefaults()
	gc := time.NewTicker(max(livyTime(to.GCInterval, s.cfg.Step), time.Millisecond))
	defer gc.Stop()
	hb := time.NewTicker(max(livyTime(to.HeartbeatInterval, s.cfg.Step), time.Millisecond))
	defer hb.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-gc.C:
			s.deleteAll(s.expired(to, time.Now()))
		case <-hb.C:
			s.deleteAll(s.heartbeatExpired(time.Now()))
		}
	}
}

type sessionKey struct {
	typ string
	id  int
}

// deleteAll deletes the sessions at once (Livy's Future.sequence of
// deletes) and waits for them.
func (s *Server) deleteAll(keys []sessionKey) {
	if len(keys) == 0 {
		return
	}
	var last time.Time
	for _, k := range keys {
		if s.lc {
			until, err := s.beginStop(k.typ, k.id)
			if err != nil {
				s.log.Warn("livytest: GC: cannot stop a session", "type", k.typ, "id", k.id, "err", err)
			}
			if until.After(last) {
				last = until
			}
		}
	}
	if !last.IsZero() {
		t := time.NewTimer(time.Until(last))
		select {
		case <-t.C:
		case <-s.quit:
			t.Stop()
			return
		}
	}
	for _, k := range keys {
		if s.lc {
			if err := s.finishStop(k.typ, k.id); err != nil {
				s.log.Warn("livytest: GC: cannot delete a session", "type", k.typ, "id", k.id, "err", err)
			}
			continue
		}
		s.mu.Lock()
		if r := s.mem.get(k.typ, k.id); r != nil {
			if err := s.remove(k.typ, r); err != nil {
				s.log.Warn("livytest: GC: cannot delete a session", "type", k.typ, "id", k.id, "err", err)
			}
			s.forgetActivity(k.typ, k.id)
		}
		s.mu.Unlock()
	}
}

// expired is SessionManager.collectGarbage's test (SessionManager.scala@0.9:162-199):
// a finished session (success, dead, killed; the server-side error of a
// failed ping too) is deleted StateRetain after it finished; an
// interactive session that is not finished when it has been idle for its
// idle timeout (the request's ttl on 0.8, idleTimeout on 0.9, else
// SessionTimeout), and on 0.9 with TTLCheck when it is older than its ttl
// (else TTL). Batches never time out. A session whose REPL reports error
// never expires: Livy builds a new Error state, with a new time, each
// time it asks the REPL.
func (s *Server) expired(to Timeouts, now time.Time) []sessionKey {
	var out []sessionKey
	scaled := func(d, step time.Duration) time.Duration { return livyTime(d, step) }
	for _, r := range s.mem.list(typeBatch) {
		b := r.(*batchRecord)
		step := b.meta().step(s.cfg.Step)
		switch b.state(now, step) {
		case "success", "dead", "killed":
			if now.Sub(b.finishedAt(step)) > scaled(to.StateRetain, step) {
				out = append(out, sessionKey{typeBatch, b.ID})
			}
		}
	}
	for _, r := range s.mem.list(typeInteractive) {
		ir := r.(*interactiveRecord)
		step := ir.meta().step(s.cfg.Step)
		st := ir.state(now, step)
		switch st {
		case "dead", "killed":
			fin := ir.finishedAt(step)
			if fin.IsZero() || now.Sub(fin) > scaled(to.StateRetain, step) {
				out = append(out, sessionKey{typeInteractive, ir.ID})
			}
			continue
		case "error", "shutting_down":
			// error: a new Error each time (never expires); shutting_down:
			// being deleted already.
			continue
		}
		if to.SessionTimeout < 0 {
			continue
		}
		s.act.mu.Lock()
		a := *s.act.get(ir.ID, now)
		s.act.mu.Unlock()
		last := a.last
		for _, t := range ir.timeline(step) {
			if !t.start.IsZero() && t.start.Before(now) && t.start.After(last) {
				last = t.start // the REPL's last activity
			}
			if !t.doneAt.IsZero() && t.doneAt.Before(now) && t.doneAt.After(last) {
				last = t.doneAt
			}
		}
		timeout := to.SessionTimeout
		idle := ir.IdleTimeout
		if s.prof.surf.gcTTLIsIdle {
			idle = ir.TTL
		}
		if idle != nil {
			if d, ok := timeString(*idle); ok {
				timeout = d
			}
		}
		if now.Sub(last) > scaled(timeout, step) {
			out = append(out, sessionKey{typeInteractive, ir.ID})
			continue
		}
		if to.TTLCheck && !s.prof.surf.gcTTLIsIdle && s.prof.surf.idleTimeout {
			ttl := to.TTL
			if ir.TTL != nil {
				if d, ok := timeString(*ir.TTL); ok {
					ttl = d
				}
			}
			if now.Sub(a.started) > scaled(ttl, step) {
				out = append(out, sessionKey{typeInteractive, ir.ID})
			}
		}
	}
	return out
}

// heartbeatExpired is SessionHeartbeatWatchdog.deleteExpiredSessions: the
// sessions with a heartbeat timeout whose last heartbeat is older than it
// (SessionHeartbeat.scala@0.9:38-48,106-119).
func (s *Server) heartbeatExpired(now time.Time) []sessionKey {
	var out []sessionKey
	for _, r := range s.mem.list(typeInteractive) {
		ir := r.(*interactiveRecord)
		if ir.HeartbeatTimeoutS <= 0 || !ir.meta().stoppingAt.IsZero() {
			continue
		}
		step := ir.meta().step(s.cfg.Step)
		s.act.mu.Lock()
		hb := s.act.get(ir.ID, now).hb
		s.act.mu.Unlock()
		if now.Sub(hb) > time.Duration(ir.HeartbeatTimeoutS)*step {
			out = append(out, sessionKey{typeInteractive, ir.ID})
		}
	}
	return out
}
