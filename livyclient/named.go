package livyclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// NamedBatch is a batch addressed by name (BatchesService.ByName).
//
// Livy accepts a batch's or session's name wherever a path has its id
// (SessionServlet.scala@0.9:213-237: an {id} that is not all digits is
// looked up by name; the same in 0.7 and 0.8). A NamedBatch or
// NamedSession sends the name so, one request per call.
//
// Routing: the HA transport sends a request for a numeric id to the
// session's owner, but a name names no owner. In active-passive clusters
// (PR #212 included) and active-active ones every name is known to the
// server a request goes to (the active; any), and each call is that one
// request. In multi-active and session-HA clusters names are per server
// (each has its own, and the same name may exist on two): each call
// first asks every registered server for the name (GET /{batches,
// sessions}/{name}, one request per server, the leader first), then
// sends its request to the one server that has it; none gives
// ErrNotFound, several give ErrConflict. There the id Create returned is
// cheaper. Everywhere, to run statements (Run waits for a session that
// is not ready by polling its id) or to be sure of acting on the session
// that was looked up (a name is free again once its session is deleted),
// resolve the name once — Get returns the view, with its ID — and use the
// id methods.
type NamedBatch struct {
	r    coll[Batch, BatchList]
	name string
}

// ByName returns a handle on the batch named name.
func (s *BatchesService) ByName(name string) NamedBatch { return NamedBatch{r: s.r, name: name} }

// Name returns the batch's name.
func (n NamedBatch) Name() string { return n.name }

// Get returns the batch (BatchesService.GetByName, routed as NamedBatch
// says).
func (n NamedBatch) Get(ctx context.Context) (*Batch, error) { return named(ctx, n.r, n.name, n.r.get) }

// State returns the batch's state.
func (n NamedBatch) State(ctx context.Context) (SessionState, error) {
	return named(ctx, n.r, n.name, n.r.state)
}

// Log returns log lines of the batch.
func (n NamedBatch) Log(ctx context.Context, opts *LogOptions) (*Log, error) {
	return named(ctx, n.r, n.name, func(ctx context.Context, key string) (*Log, error) { return n.r.log(ctx, key, opts) })
}

// Delete kills and deletes the batch.
func (n NamedBatch) Delete(ctx context.Context) error { return namedDelete(ctx, n.r, n.name) }

// NamedSession is an interactive session addressed by name
// (SessionsService.ByName); see NamedBatch about names and routing.
type NamedSession struct {
	r    coll[Session, SessionList]
	name string
}

// ByName returns a handle on the interactive session named name.
func (s *SessionsService) ByName(name string) NamedSession {
	return NamedSession{r: s.r, name: name}
}

// Name returns the session's name.
func (n NamedSession) Name() string { return n.name }

// Get returns the session (SessionsService.GetByName, routed as
// NamedBatch says).
func (n NamedSession) Get(ctx context.Context) (*Session, error) {
	return named(ctx, n.r, n.name, n.r.get)
}

// State returns the session's state.
func (n NamedSession) State(ctx context.Context) (SessionState, error) {
	return named(ctx, n.r, n.name, n.r.state)
}

// Log returns log lines of the session.
func (n NamedSession) Log(ctx context.Context, opts *LogOptions) (*Log, error) {
	return named(ctx, n.r, n.name, func(ctx context.Context, key string) (*Log, error) { return n.r.log(ctx, key, opts) })
}

// Delete stops and deletes the session.
func (n NamedSession) Delete(ctx context.Context) error { return namedDelete(ctx, n.r, n.name) }

// Statements returns the session's statements, paged by opts (nil: all
// of them, oldest first; see StatementListOptions).
func (n NamedSession) Statements(ctx context.Context, opts *StatementListOptions) (*StatementList, error) {
	return named(ctx, n.r, n.name, func(ctx context.Context, key string) (*StatementList, error) {
		return n.r.c.Statements.list(ctx, key, opts)
	})
}

// Statement returns one statement of the session.
func (n NamedSession) Statement(ctx context.Context, statementID int) (*Statement, error) {
	return named(ctx, n.r, n.name, func(ctx context.Context, key string) (*Statement, error) {
		return n.r.c.Statements.get(ctx, key, statementID)
	})
}

// named runs call for the name, routed as NamedBatch says.
func named[T, L, V any](ctx context.Context, r coll[T, L], name string, call func(context.Context, string) (V, error)) (V, error) {
	ctx, err := r.where(ctx, name)
	if err != nil {
		var zero V
		return zero, err
	}
	return call(ctx, nameKey(name))
}

func namedDelete[T, L any](ctx context.Context, r coll[T, L], name string) error {
	_, err := named(ctx, r, name, func(ctx context.Context, key string) (struct{}, error) {
		return struct{}{}, r.delete(ctx, key)
	})
	return err
}

// where returns the context for the requests of a name handle: ctx, or,
// where names are per server, ctx pinned to the one server that knows the
// name (see NamedBatch).
func (r coll[T, L]) where(ctx context.Context, name string) (context.Context, error) {
	rc, ok := r.c.transport.cluster.(*resolverCluster)
	if !ok || !rc.perServer() {
		return ctx, nil
	}
	var found []*url.URL
	var notFound, other error
	for _, srv := range rc.loc.Servers() {
		base, err := rc.base(srv)
		if err != nil {
			continue
		}
		switch err := r.c.do(pinned(ctx, base), http.MethodGet, r.path(nameKey(name)), nil, nil); {
		case err == nil:
			found = append(found, base)
		case errors.Is(err, ErrNotFound):
			notFound = err
		case ctx.Err() != nil:
			return nil, err
		default:
			other = err // that server could not say; the others may
		}
	}
	switch {
	case len(found) == 1:
		return pinned(ctx, found[0]), nil
	case len(found) > 1:
		return nil, fmt.Errorf("%w: %s named %q exist on %d servers (names are per server in this cluster)", ErrConflict, r.name, name, len(found))
	case other != nil:
		return nil, other
	case notFound != nil:
		return nil, notFound
	}
	return nil, fmt.Errorf("livyclient: no server to look %s %q up on", r.name, name)
}
