package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/livyha/livyha/internal/cli"
	"github.com/livyha/livyha/livyclient"
)

// client builds the Livy client of the flags; close releases it.
func (e *cmdEnv) client() (c *livyclient.Client, closeFn func(), err error) {
	o := e.o
	tgt, err := o.targets.Resolve(getenv)
	if err != nil {
		return nil, nil, err
	}
	ropts, err := cli.ResolverOptions(o.zkAuth, o.tls, getenv)
	if err != nil {
		return nil, nil, err
	}
	restTLS, err := o.tls.RESTConfig(getenv)
	if err != nil {
		return nil, nil, err
	}
	auth, authClose, err := o.auth.Authenticator(getenv)
	if err != nil {
		return nil, nil, err
	}
	// The connections are ours, so that closing the client closes them.
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = restTLS
	copts := []livyclient.Option{livyclient.WithTarget(tgt.String, ropts...), livyclient.WithHTTPClient(&http.Client{Transport: base}),
		livyclient.WithPollInterval(o.poll)}
	if auth != nil {
		copts = append(copts, livyclient.WithAuth(auth))
	}
	if o.verbose {
		copts = append(copts, livyclient.WithLogger(slog.New(slog.NewTextHandler(e.st.err, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	release := func() {
		base.CloseIdleConnections()
		authClose()
	}
	c, err = livyclient.New(copts...)
	if err != nil {
		release()
		return nil, nil, err
	}
	return c, func() { _ = c.Close(); release() }, nil
}

// withClient runs f with a client.
func (e *cmdEnv) withClient(f func(c *livyclient.Client) error) error {
	c, closeFn, err := e.client()
	if err != nil {
		return err
	}
	defer closeFn()
	return f(c)
}

// job is what the verbs do alike with batches (T Batch, L BatchList)
// and interactive sessions (T Session, L SessionList).
type job[T, L any] struct {
	what      string // "batch" or "session"
	get       func(c *livyclient.Client, ctx context.Context, id int) (*T, error)
	getByName func(c *livyclient.Client, ctx context.Context, name string) (*T, error)
	list      func(c *livyclient.Client, ctx context.Context, opts *livyclient.ListOptions) (*L, error)
	del       func(c *livyclient.Client, ctx context.Context, id int) error
	id        func(*T) int
	print     func(w io.Writer, format string, v *T) error
	printList func(w io.Writer, format string, l *L) error
}

var batches = job[livyclient.Batch, livyclient.BatchList]{
	what: "batch",
	get: func(c *livyclient.Client, ctx context.Context, id int) (*livyclient.Batch, error) {
		return c.Batches.Get(ctx, id)
	},
	getByName: func(c *livyclient.Client, ctx context.Context, n string) (*livyclient.Batch, error) {
		return c.Batches.GetByName(ctx, n)
	},
	list: func(c *livyclient.Client, ctx context.Context, o *livyclient.ListOptions) (*livyclient.BatchList, error) {
		return c.Batches.List(ctx, o)
	},
	del:       func(c *livyclient.Client, ctx context.Context, id int) error { return c.Batches.Delete(ctx, id) },
	id:        func(b *livyclient.Batch) int { return b.ID },
	print:     printBatch,
	printList: printBatchList,
}

var sessions = job[livyclient.Session, livyclient.SessionList]{
	what: "session",
	get: func(c *livyclient.Client, ctx context.Context, id int) (*livyclient.Session, error) {
		return c.Sessions.Get(ctx, id)
	},
	getByName: func(c *livyclient.Client, ctx context.Context, n string) (*livyclient.Session, error) {
		return c.Sessions.GetByName(ctx, n)
	},
	list: func(c *livyclient.Client, ctx context.Context, o *livyclient.ListOptions) (*livyclient.SessionList, error) {
		return c.Sessions.List(ctx, o)
	},
	del:       func(c *livyclient.Client, ctx context.Context, id int) error { return c.Sessions.Delete(ctx, id) },
	id:        func(s *livyclient.Session) int { return s.ID },
	print:     printSession,
	printList: printSessionList,
}

// lookup returns the job k names (a name is looked up: Livy accepts it in
// place of the id).
func (j job[T, L]) lookup(e *cmdEnv, c *livyclient.Client, k idOrName) (*T, error) {
	var (
		v   *T
		err error
	)
	if k.name != "" {
		v, err = j.getByName(c, e.ctx, k.name)
	} else {
		v, err = j.get(c, e.ctx, k.id)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", j.what, k, err)
	}
	return v, nil
}

// idOf is k's id, looked up when k is a name.
func (j job[T, L]) idOf(e *cmdEnv, c *livyclient.Client, k idOrName) (int, error) {
	if k.name == "" {
		return k.id, nil
	}
	v, err := j.lookup(e, c, k)
	if err != nil {
		return 0, err
	}
	return j.id(v), nil
}

func (j job[T, L]) getVerb(e *cmdEnv, args []string) error {
	k, err := parseKey(j.what, args)
	if err != nil {
		return err
	}
	return e.withClient(func(c *livyclient.Client) error {
		v, err := j.lookup(e, c, k)
		if err != nil {
			return err
		}
		return j.print(e.st.out, e.o.output, v)
	})
}

func (j job[T, L]) listVerb(e *cmdEnv, args []string) error {
	if err := noArgs(j.what+" list", args); err != nil {
		return err
	}
	return e.withClient(func(c *livyclient.Client) error {
		l, err := j.list(c, e.ctx, e.listOptions())
		if err != nil {
			return err
		}
		return j.printList(e.st.out, e.o.output, l)
	})
}

func (j job[T, L]) deleteVerb(e *cmdEnv, args []string) error {
	k, err := parseKey(j.what, args)
	if err != nil {
		return err
	}
	return e.withClient(func(c *livyclient.Client) error {
		id, err := j.idOf(e, c, k)
		if err != nil {
			return err
		}
		if err := j.del(c, e.ctx, id); err != nil {
			return fmt.Errorf("%s %s: %w", j.what, k, err)
		}
		e.note("%s %s deleted", j.what, k)
		return nil
	})
}

func noArgs(v string, args []string) error {
	if len(args) > 0 {
		return cli.Usagef("%s takes no arguments, got %q", v, args)
	}
	return nil
}

// ---- batches ----

// createBatch builds the request and creates the batch, naming it when
// the request has no name, and tells stderr its id and name at once.
func (e *cmdEnv) createBatch(c *livyclient.Client, extra []string) (*livyclient.Batch, string, error) {
	req, err := buildBatch(&e.o.req, e.given, extra, e.st.in)
	if err != nil {
		return nil, "", err
	}
	if req.Name == "" {
		req.Name = newName()
	}
	e.resume = fmt.Sprintf("the batch named %s may have been created: livyctl batch get %s", req.Name, req.Name)
	b, err := c.Batches.Create(e.ctx, req)
	if err != nil {
		if errors.Is(err, livyclient.ErrAmbiguous) {
			return nil, "", fmt.Errorf("%w (the batch named %s may exist: livyctl batch get %s)", err, req.Name, req.Name)
		}
		return nil, "", err
	}
	e.resume = ""
	e.note("batch %d (name %s) created, %s; reattach: livyctl batch log --follow %s", b.ID, req.Name, b.State, req.Name)
	return b, req.Name, nil
}

func batchCreate(e *cmdEnv, args []string) error {
	if err := checkExtra("batch create", args); err != nil {
		return err
	}
	return e.withClient(func(c *livyclient.Client) error {
		b, _, err := e.createBatch(c, extraArgs(args))
		if err != nil {
			return err
		}
		return printBatch(e.st.out, e.o.output, b)
	})
}

// extraArgs are the arguments after "--"; anything before it is a usage
// error caught by checkExtra.
func extraArgs(args []string) []string {
	if len(args) > 0 && args[0] == "--" {
		return args[1:]
	}
	return nil
}

func checkExtra(v string, args []string) error {
	if len(args) > 0 && args[0] != "--" {
		return cli.Usagef("%s takes the application's arguments after --, got %q (or use --args)", v, args)
	}
	return nil
}

func batchSubmit(e *cmdEnv, args []string) error {
	if err := checkExtra("batch submit", args); err != nil {
		return err
	}
	return e.withClient(func(c *livyclient.Client) error {
		b, bname, err := e.createBatch(c, extraArgs(args))
		if err != nil {
			return err
		}
		return e.follow(c, b.ID, bname, 0)
	})
}

func (e *cmdEnv) listOptions() *livyclient.ListOptions {
	lo := &livyclient.ListOptions{From: max(0, e.o.from), Size: 100}
	if e.o.size > 0 {
		lo.Size = e.o.size
	}
	return lo
}

func batchLog(e *cmdEnv, args []string) error {
	k, err := parseKey("batch", args)
	if err != nil {
		return err
	}
	return e.withClient(func(c *livyclient.Client) error {
		b, err := batches.lookup(e, c, k)
		if err != nil {
			return err
		}
		if e.o.follow {
			if e.given("size") {
				return cli.Usagef("--follow prints every line from --from on; it takes no --size")
			}
			bname := k.String()
			if b.Name != nil && *b.Name != "" {
				bname = *b.Name
			}
			return e.follow(c, b.ID, bname, max(0, e.o.from))
		}
		if e.given("from") || e.given("size") {
			// One page, as Livy serves it (from: the tail; size: 100).
			opts := &livyclient.LogOptions{}
			if e.given("from") {
				opts.From = &e.o.from
			}
			if e.given("size") {
				opts.Size = &e.o.size
			}
			l, err := c.Batches.Log(e.ctx, b.ID, opts)
			if err != nil {
				return fmt.Errorf("batch %s log: %w", k, err)
			}
			return writeLines(e.st.out, l.Log)
		}
		f := &follower{e: e, c: c, id: b.ID}
		return f.drain()
	})
}

// ---- following a batch ----

// pageSize is how many log lines one request asks for (Livy's default).
const pageSize = 100

// follower prints a batch's log lines exactly once, resuming at the count
// already printed.
type follower struct {
	e       *cmdEnv
	c       *livyclient.Client
	id      int
	printed int  // lines printed so far (the next line's index)
	warned  bool // said once that the log shrank
}

func writeLines(w io.Writer, lines []string) error {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// drain prints the lines from f.printed to the log's current end: Livy
// may answer fewer lines than asked, so it asks until it has the total.
func (f *follower) drain() error {
	for {
		from, size := f.printed, pageSize
		l, err := f.c.Batches.Log(f.e.ctx, f.id, &livyclient.LogOptions{From: &from, Size: &size})
		if err != nil {
			return fmt.Errorf("batch %d log: %w", f.id, err)
		}
		if l.Total < f.printed && !f.warned {
			// A server that lost lines (Livy's log buffer,
			// livy.cache-log.size, rotated; a recovered batch's fresh
			// log): go on from its end, printing nothing twice.
			f.warned = true
			f.e.note("batch %d: the log now has %d lines, fewer than the %d printed; printing from line %d on", f.id, l.Total, f.printed, l.Total)
		}
		if l.Total < f.printed {
			f.printed = l.Total
			continue
		}
		if err := writeLines(f.e.st.out, l.Log); err != nil {
			return err
		}
		f.printed += len(l.Log)
		if len(l.Log) == 0 || f.printed >= l.Total {
			return nil
		}
	}
}

// follow prints the batch's log from line from until the batch has
// finished, and returns nil for success, an error with ExitJobFailed for
// any other final state.
func (e *cmdEnv) follow(c *livyclient.Client, id int, bname string, from int) error {
	f := &follower{e: e, c: c, id: id, printed: from}
	setResume := func() {
		e.resume = fmt.Sprintf("batch %d (name %s) is left running, %d log lines printed; resume: livyctl batch log --follow --from %d %s",
			id, bname, f.printed, f.printed, bname)
	}
	setResume()
	var last livyclient.SessionState
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-e.ctx.Done():
			setResume()
			return e.ctx.Err()
		case <-timer.C:
		}
		// The state first, then the log: a final state seen before the
		// drain means the drained log is complete.
		b, err := c.Batches.Get(e.ctx, id)
		if err != nil {
			setResume()
			return fmt.Errorf("batch %d: %w", id, err)
		}
		if b.State != last {
			e.progress("batch %d is %s", id, b.State)
			last = b.State
		}
		err = f.drain()
		setResume()
		if err != nil {
			return err
		}
		if b.State.Finished() {
			e.resume = ""
			if b.State == livyclient.StateSuccess {
				return nil
			}
			return &cli.ExitError{Code: cli.ExitJobFailed, Err: fmt.Errorf("batch %d (name %s) finished %s", id, bname, b.State)}
		}
		timer.Reset(e.o.poll)
	}
}

// ---- sessions ----

func sessionCreate(e *cmdEnv, args []string) error {
	if err := noArgs("session create", args); err != nil {
		return err
	}
	req, err := buildSession(&e.o.req, e.given, e.st.in)
	if err != nil {
		return err
	}
	return e.withClient(func(c *livyclient.Client) error {
		if req.Name == "" {
			req.Name = newName()
		}
		s, err := c.Sessions.Create(e.ctx, req)
		if err != nil {
			if errors.Is(err, livyclient.ErrAmbiguous) {
				return fmt.Errorf("%w (the session named %s may exist: livyctl session get %s)", err, req.Name, req.Name)
			}
			return err
		}
		e.note("session %d (name %s) created, %s", s.ID, req.Name, s.State)
		if e.o.wait {
			e.resume = fmt.Sprintf("session %d (name %s) is left running", s.ID, req.Name)
			e.progress("session %d is %s; waiting until it is idle", s.ID, s.State)
			w, err := c.Sessions.Wait(e.ctx, s.ID, livyclient.StateIdle)
			if err != nil {
				if errors.Is(err, livyclient.ErrUnexpectedState) {
					return &cli.ExitError{Code: cli.ExitJobFailed, Err: fmt.Errorf("session %d (name %s): %w", s.ID, req.Name, err)}
				}
				return fmt.Errorf("session %d: %w", s.ID, err)
			}
			e.resume = ""
			e.progress("session %d is %s", s.ID, w.State)
			s = w
		}
		return printSession(e.st.out, e.o.output, s)
	})
}

// ---- statements ----

func runStatement(e *cmdEnv, args []string) error {
	if e.o.session == "" {
		return cli.Usagef("run needs --session ID|NAME")
	}
	k, err := parseKey("session", []string{e.o.session})
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return cli.Usagef("run needs the CODE to run (or - to read it from stdin)")
	}
	code := strings.Join(args, " ")
	if len(args) == 1 && args[0] == "-" {
		b, err := io.ReadAll(io.LimitReader(e.st.in, maxRequestFile+1))
		if err != nil {
			return cli.Usagef("reading the code from stdin: %s", err)
		}
		if len(b) > maxRequestFile {
			return cli.Usagef("the code on stdin is larger than %d bytes", maxRequestFile)
		}
		code = string(b)
	}
	if strings.TrimSpace(code) == "" {
		return cli.Usagef("run: the code is empty")
	}
	return e.withClient(func(c *livyclient.Client) error {
		id, err := sessions.idOf(e, c, k)
		if err != nil {
			return err
		}
		st, err := c.Statements.Run(e.ctx, id, &livyclient.StatementRequest{Code: code, Kind: e.o.req.kind})
		if err != nil {
			if errors.Is(err, livyclient.ErrAmbiguous) {
				return fmt.Errorf("%w (the statement may run: livyctl does not send it twice)", err)
			}
			return fmt.Errorf("session %s: %w", k, err)
		}
		e.resume = fmt.Sprintf("statement %d of session %d is left running", st.ID, id)
		e.progress("statement %d of session %d is %s", st.ID, id, st.State)
		if !st.State.Finished() {
			if st, err = c.Statements.Wait(e.ctx, id, st.ID); err != nil {
				return fmt.Errorf("session %d statement: %w", id, err)
			}
		}
		e.resume = ""
		return printStatement(e, st)
	})
}

// printStatement prints a finished statement's result: its text/plain
// output (else its data as JSON) on stdout; an error's ename, evalue and
// traceback on stderr, with ExitJobFailed.
func printStatement(e *cmdEnv, st *livyclient.Statement) error {
	if e.o.output != "table" {
		if err := writeOut(e.st.out, e.o.output, st, nil, nil); err != nil {
			return err
		}
	}
	if st.State == livyclient.StatementCancelled {
		return &cli.ExitError{Code: cli.ExitJobFailed, Err: fmt.Errorf("statement %d was cancelled", st.ID)}
	}
	out := st.Output
	if out == nil {
		return &cli.ExitError{Code: cli.ExitJobFailed, Err: fmt.Errorf("statement %d is %s without output", st.ID, st.State)}
	}
	if out.Status == "error" {
		if e.o.output == "table" {
			var b strings.Builder
			fmt.Fprintf(&b, "%s: %s\n", out.EName, out.EValue)
			for _, l := range out.Traceback {
				b.WriteString(strings.TrimRight(l, "\n") + "\n")
			}
			_, _ = io.WriteString(e.st.err, b.String())
		}
		return &cli.ExitError{Code: cli.ExitJobFailed, Err: fmt.Errorf("statement %d failed: %s: %s", st.ID, out.EName, out.EValue)}
	}
	if e.o.output != "table" {
		return nil
	}
	if text, ok := out.Text(); ok {
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		_, err := io.WriteString(e.st.out, text)
		return err
	}
	b, err := json.Marshal(out.Data)
	if err != nil {
		return err
	}
	_, err = e.st.out.Write(append(b, '\n'))
	return err
}
