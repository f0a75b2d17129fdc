package livyclient

import (
	"context"
	"net/http"
)

// Hooks are called by the HA transport on the events a proxy or a metrics
// exporter counts. Nil fields are skipped. They run synchronously on the
// request's goroutine and must return quickly.
type Hooks struct {
	// Redirect: from answered 307/308 towards to (host:port each).
	// followed is false when the transport refused it: to is not a member
	// nor trusted, it leaves https for http, it names no http(s) host, or
	// the hop limit was reached. Redirects of a server to itself (a
	// takeover in progress) are retries, not redirects.
	Redirect func(from, to string, followed bool)
	// Retry: attempt (1-based) of method path failed with err and the
	// request will be tried again.
	Retry func(method, path string, attempt int, err error)
}

// WithHooks sets the transport's hooks.
func WithHooks(h Hooks) Option { return func(o *options) error { o.hooks = h; return nil } }

func (h *Hooks) redirect(from, to string, followed bool) {
	if h.Redirect != nil {
		h.Redirect(from, to, followed)
	}
}

func (h *Hooks) retry(req *http.Request, attempt int, err error) {
	if h.Retry != nil {
		h.Retry(req.Method, req.URL.Path, attempt, err)
	}
}

type editorKey struct{}

// WithRequestEditor returns a copy of ctx with which every request a
// Client call sends — including the lookups a create makes after an
// ambiguous failure, and the polls of Wait — passes through edit before it
// is sent: e.g. to copy a proxied caller's headers, or to add Livy's doAs
// query parameter. edit must not touch the body; the HA transport still
// applies the Authenticator (which overrides Authorization) per hop.
func WithRequestEditor(ctx context.Context, edit func(*http.Request)) context.Context {
	return context.WithValue(ctx, editorKey{}, edit)
}

func editRequest(req *http.Request) {
	if edit, ok := req.Context().Value(editorKey{}).(func(*http.Request)); ok && edit != nil {
		edit(req)
	}
}
