package livyclient

import "context"

// Livy accepts a batch's or session's name wherever a path has its id
// (SessionServlet.scala@0.9:216-223: an {id} that is not all digits is
// looked up by name; the same in 0.7 and 0.8). ByName returns a handle
// whose calls send the name so, one request each.
//
// Routing: the HA transport sends a request for a numeric id to the
// session's owner, but a name names no owner, so a name request goes to
// the active server. In active-passive clusters (and PR #212, and
// active-active ones) that is where every name is known. In multi-active
// and session-HA clusters names are per server: a name request finds
// only what the active (the latch leader) itself serves, and answers 404
// "Session '<name>' not found." for a session another server owns. There,
// or to run statements (Run waits for a session that is not ready by
// polling its id), resolve the name once — Get(ctx) returns the view, with
// its ID — and use the id methods: the id also keeps naming the same
// session if it is deleted and its name reused.

// NamedBatch is a batch addressed by name (BatchesService.ByName).
type NamedBatch struct {
	r    coll[Batch, BatchList]
	name string
}

// ByName returns a handle on the batch named name.
func (s *BatchesService) ByName(name string) NamedBatch { return NamedBatch{r: s.r, name: name} }

// Name returns the batch's name.
func (n NamedBatch) Name() string { return n.name }

// Get returns the batch (BatchesService.GetByName).
func (n NamedBatch) Get(ctx context.Context) (*Batch, error) { return n.r.get(ctx, nameKey(n.name)) }

// State returns the batch's state.
func (n NamedBatch) State(ctx context.Context) (SessionState, error) {
	return n.r.state(ctx, nameKey(n.name))
}

// Log returns log lines of the batch.
func (n NamedBatch) Log(ctx context.Context, opts *LogOptions) (*Log, error) {
	return n.r.log(ctx, nameKey(n.name), opts)
}

// Delete kills and deletes the batch.
func (n NamedBatch) Delete(ctx context.Context) error { return n.r.delete(ctx, nameKey(n.name)) }

// NamedSession is an interactive session addressed by name
// (SessionsService.ByName).
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

// Get returns the session (SessionsService.GetByName).
func (n NamedSession) Get(ctx context.Context) (*Session, error) {
	return n.r.get(ctx, nameKey(n.name))
}

// State returns the session's state.
func (n NamedSession) State(ctx context.Context) (SessionState, error) {
	return n.r.state(ctx, nameKey(n.name))
}

// Log returns log lines of the session.
func (n NamedSession) Log(ctx context.Context, opts *LogOptions) (*Log, error) {
	return n.r.log(ctx, nameKey(n.name), opts)
}

// Delete stops and deletes the session.
func (n NamedSession) Delete(ctx context.Context) error { return n.r.delete(ctx, nameKey(n.name)) }

// Statements returns the session's statements, paged by opts (nil: all
// of them, oldest first; see StatementListOptions).
func (n NamedSession) Statements(ctx context.Context, opts *StatementListOptions) (*StatementList, error) {
	return n.r.c.Statements.list(ctx, nameKey(n.name), opts)
}

// Statement returns one statement of the session.
func (n NamedSession) Statement(ctx context.Context, statementID int) (*Statement, error) {
	return n.r.c.Statements.get(ctx, nameKey(n.name), statementID)
}
