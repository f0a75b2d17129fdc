package retry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// StandbyText starts the body a passive Livy server sends with its 307
// (PR #212: "This is a standby Livy Instance. The redirect url is: <url>").
const StandbyText = "This is a standby Livy Instance"

// ErrNotSent marks an error after which the request provably never reached
// a server; transports wrap it when they know (NeverSent reports true).
var ErrNotSent = errors.New("request not sent")

// NeverSent reports whether err proves that the request never reached a
// server: a failed dial (refused, unreachable, DNS failure, dial timeout)
// or an error wrapping ErrNotSent. Only such failures allow a blind retry
// of a non-idempotent request such as creating a batch.
func NeverSent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNotSent) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// Retryable reports whether a transport error is worth retrying, possibly
// on another server: NeverSent errors, connections reset or closed before a
// response, and network timeouts. Context cancellation is not retryable.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if NeverSent(err) {
		return true
	}
	switch {
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	// net/http's own errors for a connection that died under a request
	// (unexported, so matched by text): the server may or may not have
	// read the request.
	msg := err.Error()
	return strings.Contains(msg, "server closed idle connection") ||
		strings.Contains(msg, "transport connection broken")
}

// RetryableStatus reports whether an HTTP status means "try again, maybe
// elsewhere": 502, 503 and 504.
func RetryableStatus(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// IsStandby reports whether an answer comes from a passive Livy server
// that did not serve the request: a 307 or 503 whose body starts with
// StandbyText.
func IsStandby(code int, body []byte) bool {
	return (code == http.StatusTemporaryRedirect || code == http.StatusServiceUnavailable) &&
		bytes.HasPrefix(body, []byte(StandbyText))
}

// IsTakeover reports whether an answer comes from a PR #212 server whose
// redirect filter failed because no leader is known (or its elector is not
// started yet): a 500 whose body names the filter or the elector
// (DomainRedirectionFilter.doFilter calls
// CuratorElectorService.getActiveHostname with no guard,
// CuratorElectorService.scala@PR212:101-105). The filter runs before any
// servlet, so nothing was executed: the request may be repeated, whatever
// its method.
func IsTakeover(code int, body []byte) bool {
	return code == http.StatusInternalServerError &&
		(bytes.Contains(body, []byte("DomainRedirectionFilter")) || bytes.Contains(body, []byte("CuratorElectorService")))
}

// peekStandby reads just enough of resp's body to tell a standby answer,
// and puts what it read back.
func peekStandby(resp *http.Response) bool {
	if resp.Body == nil {
		return false
	}
	buf := make([]byte, len(StandbyText))
	n, _ := io.ReadFull(resp.Body, buf)
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf[:n]), resp.Body), resp.Body}
	return IsStandby(resp.StatusCode, buf[:n])
}

// Idempotent reports whether an HTTP method may be repeated safely.
func Idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	return false
}

// CheckRetry returns a function with the signature of go-retryablehttp's
// CheckRetry (assign it to retryablehttp.Client.CheckRetry). It retries
// 502/503/504 answers to idempotent requests and 503 to the others, and a
// passive Livy server's standby answer (IsStandby: a 307 that was not
// followed, e.g. with redirects disabled, did nothing on the server);
// transport errors only when NeverSent (go-retryablehttp does not tell the
// method of a request that got no response, so an ambiguous failure of a
// POST is never repeated blindly). Every retry spends budget (nil: no
// budget); a refused retry ends the loop with ErrBudgetExhausted.
func CheckRetry(b *Budget) func(ctx context.Context, resp *http.Response, err error) (bool, error) {
	return func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		retry := false
		switch {
		case err != nil:
			retry = NeverSent(err)
		case resp != nil && RetryableStatus(resp.StatusCode):
			retry = resp.StatusCode == http.StatusServiceUnavailable ||
				(resp.Request != nil && Idempotent(resp.Request.Method))
		case resp != nil && resp.StatusCode == http.StatusTemporaryRedirect:
			retry = peekStandby(resp)
		}
		if !retry {
			if err == nil {
				b.OnSuccess()
			}
			return false, nil
		}
		b.OnFailure()
		if !b.Allow() {
			return false, ErrBudgetExhausted
		}
		return true, nil
	}
}

// HTTPBackoff returns a function with the signature of go-retryablehttp's
// Backoff (assign it to retryablehttp.Client.Backoff). It ignores the
// client's RetryWaitMin/Max and uses the policy, with full jitter.
func (p Policy) HTTPBackoff() func(min, max time.Duration, attemptNum int, resp *http.Response) time.Duration {
	return func(_, _ time.Duration, attemptNum int, _ *http.Response) time.Duration {
		return p.Backoff(attemptNum + 1)
	}
}
