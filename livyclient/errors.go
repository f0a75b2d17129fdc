package livyclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Sentinels matched by *Error through errors.Is.
var (
	ErrNotFound     = errors.New("livyclient: not found")
	ErrConflict     = errors.New("livyclient: conflict")
	ErrUnauthorized = errors.New("livyclient: unauthorized")
	ErrForbidden    = errors.New("livyclient: forbidden")
	ErrBadRequest   = errors.New("livyclient: bad request")
)

// Error is a Livy error answer.
type Error struct {
	StatusCode int
	// Message is Livy's message: the "msg" of a {"msg": …} body, a JSON
	// string body, or the text of any other body (truncated).
	Message string
	Server  string // host:port that answered
	Method  string
	Path    string

	base *url.URL // the base URL of the server that answered
}

func (e *Error) Error() string {
	return fmt.Sprintf("livyclient: %s %s: %d %s: %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Is matches ErrNotFound (404), ErrUnauthorized (401), ErrForbidden (403),
// ErrBadRequest (400) and ErrConflict (409, and Livy's 400 "Duplicate
// session name" rejection).
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrBadRequest:
		return e.StatusCode == http.StatusBadRequest
	case ErrConflict:
		return e.StatusCode == http.StatusConflict ||
			(e.StatusCode == http.StatusBadRequest && strings.Contains(e.Message, "Duplicate session name"))
	}
	return false
}

// parseErrorBody extracts Livy's message from an error body.
func parseErrorBody(body []byte) string {
	var m struct {
		Msg *string `json:"msg"`
	}
	if json.Unmarshal(body, &m) == nil && m.Msg != nil {
		return *m.Msg
	}
	var s string
	if json.Unmarshal(body, &s) == nil {
		return s
	}
	t := strings.TrimSpace(string(body))
	if len(t) > 512 {
		t = t[:512] + "…"
	}
	return t
}
