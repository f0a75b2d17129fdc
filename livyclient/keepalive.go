package livyclient

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// KeepAlive sends heartbeats for interactive session id every interval
// until ctx ends, so that Livy's heartbeat watchdog does not delete a
// session created with HeartbeatTimeoutInSecond while its client is
// otherwise quiet. Call it in a goroutine of its own and cancel ctx to
// stop it.
//
// In Livy every request that names one interactive session — GET
// /sessions/{id}, …/state, …/log, statements, DELETE, … but not the list
// GET /sessions — renews its heartbeat: the servlet's
// SessionHeartbeatNotifier wraps the session lookup of each
// (SessionHeartbeat.scala@0.9:51-79; the same in 0.7 and 0.8), and the
// watchdog deletes the sessions whose heartbeatTimeoutInSecond passed
// without one (@0.9:85-119, every livy.server.heartbeat-watchdog.interval,
// 1 minute by default). A heartbeat here is GET /sessions/{id}/state, the
// smallest of those answers. It does not count as activity for the idle
// timeout (livy.server.session.timeout, ttl on 0.8, idleTimeout on 0.9):
// only statements and job calls do (InteractiveSession.recordActivity).
//
// interval ≤ 0 means a third of the session's heartbeatTimeoutInSecond
// (read from the session first); the watchdog's own period adds up to a
// minute of slack, so any interval below the timeout keeps the session.
// The first heartbeat is sent at once.
//
// It returns nil when ctx ends; an error matching ErrNotFound when the
// session is gone (deleted, or expired before a heartbeat reached it); one
// matching ErrUnexpectedState when the session ended (dead, killed or
// success; not error, which a session leaves with its next statement);
// and, for interval ≤ 0, ErrBadOption when the session has no heartbeat
// timeout. Other failures (the HA transport gave up on a
// request, a 5xx) are logged and the next heartbeat is tried on time.
//
// In PR #212 clusters passives run a heartbeat watchdog of their own on
// the copies of sessions they recovered at start, which no request
// reaches (docs/livy-wire.md §10): KeepAlive cannot keep those alive.
func (s *SessionsService) KeepAlive(ctx context.Context, id int, interval time.Duration) error {
	if interval <= 0 {
		sess, err := s.Get(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if sess.HeartbeatTimeoutInSecond <= 0 {
			return fmt.Errorf("%w: KeepAlive: session %d has no heartbeatTimeoutInSecond; give an interval", ErrBadOption, id)
		}
		interval = time.Duration(sess.HeartbeatTimeoutInSecond) * time.Second / 3
	}
	c := s.r.c
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		st, err := s.r.state(ctx, idKey(id))
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrNotFound):
			return fmt.Errorf("livyclient: KeepAlive: session %d is gone: %w", id, err)
		case err != nil:
			c.log.Warn("livyclient: heartbeat failed; trying again at the next interval", "session", id, "err", err)
		case st == StateDead || st == StateKilled || st == StateSuccess:
			// Not error: an interactive session whose interpreter died
			// reports error until its next statement (Livy's Error is
			// an active state, SessionState.scala@0.9:63-64).
			return fmt.Errorf("%w: KeepAlive: session %d is %s", ErrUnexpectedState, id, st)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
