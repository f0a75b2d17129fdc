// Package cli holds what the livyha commands (livy-find, livy-registrar,
// livyctl) share: the target, TLS and authentication flags and their
// environment variables, usage errors, the exit codes, and the one-line
// error output.
//
// # Exit codes
//
// Every command exits with one of these (ExitCode maps an error to it):
//
//	0  ok
//	1  nothing found: no servers, no leader, no owner of the session
//	   (discovery.ErrNoServers, ErrNoLeader, ErrNoOwner)
//	2  usage: a bad flag, subcommand, target, connect string, path or option
//	   (UsageError, discovery.ErrBadTarget, ErrBadConnectString, ErrBadPath,
//	   ErrBadOption, ErrBadRecord)
//	3  ZooKeeper (or the static list's servers) unreachable or timed out
//	   (discovery.ErrUnavailable, a deadline, and anything unclassified)
//	4  not authorized: ZooKeeper denied access (discovery.ErrNotAuthenticated;
//	   not an outage, waiting does not help)
//	5  the server id is registered by another live session
//	   (discovery.ErrIDTaken; livy-registrar --takeover overrides)
//	6  the job failed: a batch or session that ended dead, killed or
//	   error, a statement that failed (livyctl)
//	128+N  interrupted by signal N (130 SIGINT, 143 SIGTERM) while waiting
//	   (livyctl; the job is left running)
//
// Errors of the Livy REST client map as well: livyclient.ErrUnauthorized,
// ErrForbidden, a *livyclient.AuthError and Kerberos errors are 4;
// ErrNotFound is 1; ErrBadRequest and ErrConflict (Livy rejected the
// request, or the name is taken) and ErrBadOption are 2.
//
// # Errors
//
// Errors are printed on stderr as one line "<cmd>: <message>" (Message,
// Fail): discovery's errors already say what was read and what to do, so
// they are printed as they are, with line breaks (which a server's message
// may carry) flattened to spaces. Usage errors end with "(see <cmd> -h)".
//
// # Targets
//
// TargetFlags defines --target and the shorthands that build a target
// string (see its doc for the rules), reading their environment variables
// when the flags are not given.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/livyclient"
)

// The exit codes (see the package doc).
const (
	ExitOK            = 0
	ExitNotFound      = 1
	ExitUsage         = 2
	ExitUnavailable   = 3
	ExitNotAuthorized = 4
	ExitIDTaken       = 5
	ExitJobFailed     = 6
	// ExitSignal plus the signal's number is the code of a command
	// interrupted while waiting: 130 for SIGINT, 143 for SIGTERM.
	ExitSignal = 128
)

// JobExitCodesHelp is the exit-code section of the job commands (livyctl).
const JobExitCodesHelp = `exit status:
  0    ok (submit, log --follow: the batch succeeded)
  1    not found (no such batch, session or statement; no active server)
  2    usage error (bad flag, verb, request file or target), or Livy rejected the
       request (400 bad request, 409 name taken)
  3    the Livy servers or ZooKeeper unreachable, or --timeout passed
  4    not authorized (401/403 from Livy, no Kerberos ticket, ZooKeeper ACL)
  6    the job failed: the batch or session ended dead, killed or error; the
       statement failed (its ename, evalue and traceback on stderr)
  130  interrupted by SIGINT, 143 by SIGTERM: waiting stopped, the job left running
`

// ExitCodesHelp is the exit-code section of every command's usage text.
const ExitCodesHelp = `exit status:
  0  ok
  1  nothing found (no servers, no leader, no owner)
  2  usage error (bad flag, subcommand, target, connect string or path)
  3  ZooKeeper (or the static list) unreachable or timed out
  4  not authorized (ZooKeeper denied access: an ACL)
  5  the server id is already registered by another live session (livy-registrar)
`

// UsageError is a command-line mistake: exit 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a *UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// ExitError gives an error its exit code explicitly.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// NotFoundf returns an error with ExitNotFound, for a command's own
// "nothing to print" cases (a server without the endpoint asked for).
func NotFoundf(format string, args ...any) error {
	return &ExitError{Code: ExitNotFound, Err: fmt.Errorf(format, args...)}
}

// ExitCode maps err to the documented exit code; nil is ExitOK.
func ExitCode(err error) int {
	var (
		ue *UsageError
		ee *ExitError
	)
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.Code
	case errors.Is(err, discovery.ErrNotAuthenticated),
		errors.Is(err, livyclient.ErrUnauthorized),
		errors.Is(err, livyclient.ErrForbidden),
		errors.Is(err, livyclient.ErrKerberos),
		errors.As(err, new(*livyclient.AuthError)):
		return ExitNotAuthorized
	case errors.Is(err, discovery.ErrIDTaken):
		return ExitIDTaken
	case errors.As(err, &ue),
		errors.Is(err, discovery.ErrBadTarget),
		errors.Is(err, discovery.ErrBadConnectString),
		errors.Is(err, discovery.ErrBadPath),
		errors.Is(err, discovery.ErrBadOption),
		errors.Is(err, discovery.ErrBadRecord),
		errors.Is(err, livyclient.ErrBadRequest),
		errors.Is(err, livyclient.ErrConflict),
		errors.Is(err, livyclient.ErrBadOption):
		return ExitUsage
	case errors.Is(err, discovery.ErrUnavailable),
		errors.Is(err, context.DeadlineExceeded):
		// Before "nothing found": an error that says both (no leader
		// because nothing answered) is an outage.
		return ExitUnavailable
	case errors.Is(err, discovery.ErrNoServers),
		errors.Is(err, discovery.ErrNoLeader),
		errors.Is(err, discovery.ErrNoOwner),
		errors.Is(err, livyclient.ErrNotFound):
		return ExitNotFound
	}
	// Anything unexpected comes from talking to ZooKeeper or the servers.
	return ExitUnavailable
}

var newlines = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

// OneLine flattens line breaks to spaces.
func OneLine(s string) string { return newlines.Replace(s) }

// Message renders err as the one line cmd prints for it, without the
// trailing newline: "<cmd>: <message>", usage errors ending with
// "(see <cmd> -h)".
func Message(cmd string, err error) string {
	msg := cmd + ": " + OneLine(err.Error())
	if ExitCode(err) == ExitUsage {
		msg += " (see " + cmd + " -h)"
	}
	return msg
}

// Fail prints err's line on w and returns its exit code.
func Fail(w io.Writer, cmd string, err error) int {
	fmt.Fprintln(w, Message(cmd, err))
	return ExitCode(err)
}
