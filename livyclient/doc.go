// Package livyclient is a client for the Apache Livy REST API (sessions,
// statements, batches, logs) that survives failovers of a
// highly-available Livy cluster.
//
// A Client has one typed service per resource, in the manner of
// google/go-github: client.Batches.Create(ctx, req), client.Sessions.Get,
// client.Statements.Run, …; request and response structs match Livy's wire
// format (docs/livy-wire.md); errors are *Error values that errors.Is
// matches against ErrNotFound, ErrConflict, ErrUnauthorized, ….
//
// Underneath is the HA Transport, an http.RoundTripper usable with any
// http.Client. It sends session-scoped requests to the session's owner and
// everything else to the active server, as a discovery resolver (or a
// static endpoint list) says; follows 307/308 itself — re-sending the body
// and re-applying credentials per hop through an Authenticator, but only
// towards cluster members or explicitly trusted hosts, never to an
// arbitrary Location; fails over on refused connections and 503s within a
// retry policy and a retry budget; and never repeats a request that is not
// idempotent unless it provably never reached a server. Creating a batch or
// a session is made safe to retry by a unique name: after an ambiguous
// failure the job is looked up by name instead of being created twice.
//
// The client logs nothing unless given a *slog.Logger (WithLogger).
package livyclient
