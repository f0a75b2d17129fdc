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

type doAsKey struct{}

// WithDoAs returns a copy of ctx with which every request a Client call
// sends carries Livy's doAs=user query parameter: the call is made on
// behalf of user (impersonation), as an authenticated superuser — a proxy,
// a notebook server — does for its end users.
//
// What Livy does with it (SessionServlet.scala@0.9:168-190,213-237;
// AccessManager.scala@0.9:73-80,108-127; the same in 0.7 and 0.8): only
// with livy.impersonation.enabled does it count. Then the authenticated
// user must be user or one of livy.superusers (any user passes when none
// is authenticated), else a create, and every request that checks access
// — a view, a list with anything in it, a log, statements, completion,
// DELETE; not GET …/state — answers 403 "User '<them>' not allowed to
// impersonate 'Some(<user>)'."; a created batch or session runs as user —
// doAs wins over the request's proxyUser — and user is its view's
// proxyUser; access checks (livy.server.access-control) are made for
// user. Without impersonation Livy ignores doAs, as it ignores proxyUser
// (the view's proxyUser stays null). An empty user removes the parameter.
// It composes with WithRequestEditor, which runs after it.
func WithDoAs(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, doAsKey{}, user)
}

func editRequest(req *http.Request) {
	if user, ok := req.Context().Value(doAsKey{}).(string); ok {
		q := req.URL.Query()
		if user == "" {
			q.Del("doAs")
		} else {
			q.Set("doAs", user)
		}
		req.URL.RawQuery = q.Encode()
	}
	if edit, ok := req.Context().Value(editorKey{}).(func(*http.Request)); ok && edit != nil {
		edit(req)
	}
}
