package livyclient

import (
	"net/http"
)

// Authenticator adds credentials to a request bound for one host. The HA
// transport calls it once per hop — after every redirect, for the new
// host — and only for cluster members or explicitly trusted hosts, so a
// per-host credential such as a SPNEGO token fits. It must not keep req.
type Authenticator interface {
	Authenticate(req *http.Request, hostport string) error
}

// BasicAuth sends HTTP Basic credentials.
type BasicAuth struct {
	User, Password string
}

// Authenticate implements Authenticator.
func (b BasicAuth) Authenticate(req *http.Request, _ string) error {
	req.SetBasicAuth(b.User, b.Password)
	return nil
}

// BearerToken sends "Authorization: Bearer <token>".
type BearerToken string

// Authenticate implements Authenticator.
func (t BearerToken) Authenticate(req *http.Request, _ string) error {
	req.Header.Set("Authorization", "Bearer "+string(t))
	return nil
}

// HeaderFunc adapts a function to Authenticator, e.g. to compute a
// per-host token.
type HeaderFunc func(req *http.Request, hostport string) error

// Authenticate implements Authenticator.
func (f HeaderFunc) Authenticate(req *http.Request, hostport string) error { return f(req, hostport) }
