// Command failover is livyha's main demo. It starts a real 3-node
// ZooKeeper ensemble on loopback and three livy-sim processes (Livy
// stand-ins that elect an active server through ZooKeeper), then works
// through livyclient as an application would: it starts an interactive
// session, runs statements and submits a batch, kill -9s the active server
// in the middle, later stops the next active gracefully, and prints a
// timeline with the outage a client observed each time, next to the
// servers' own failover time (when the cluster view named a new active).
// It stops every process it started, also on Ctrl-C or error.
//
// --profile pr212 runs the same against servers that behave as Livy PR
// #212 does (a Curator latch found through the livy.conf they write; the
// latch kept on SIGTERM; a restart window on takeover; recovering
// sessions), with Curator's session capped to --session-timeout.
//
//	go run ./examples/failover --sim bin/livy-sim --find bin/livy-find [--profile pr212]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/internal/zktest"
	"github.com/livyha/livyha/livyclient"
)

func main() {
	sim := flag.String("sim", "bin/livy-sim", "path of the livy-sim binary")
	find := flag.String("find", "bin/livy-find", "path of the livy-find binary")
	st := flag.Duration("session-timeout", 2*time.Second, "ZooKeeper session timeout of the servers")
	profile := flag.String("profile", "livyha", "server profile: livyha or pr212")
	flag.Parse()
	if *profile != "livyha" && *profile != "pr212" {
		fmt.Fprintln(os.Stderr, "failover: --profile is livyha or pr212")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *sim, *find, *st, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		stop()
		os.Exit(1)
	}
}

var start = time.Now()

func say(format string, args ...any) {
	fmt.Printf("[%7.3fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
}

// sim is a running livy-sim process.
type sim struct {
	*zktest.Proc
	url string
}

func (p *sim) stop(sig syscall.Signal) { p.Signal(sig, 5*time.Second) }

// simArgs are livy-sim's arguments for server i (0-based) of profile.
func simArgs(profile, connect, conf string, port, i int, st time.Duration) []string {
	common := []string{"--zk", connect, "--session-timeout", st.String(), "--step", "200ms"}
	if profile == "livyha" {
		return append(common, "--id", fmt.Sprint(i+1))
	}
	// PR #212: every server on one port (livy.server.port), its own
	// host; the first writes the livy.conf the others and the client read.
	return append(common, "--profile", "pr212", "--livy-conf", conf, "--ha-server-ids", "a,b,c",
		"--ha-server-hostnames", strings.Join(pr212Hosts, ","), "--ha-id", string(rune('a'+i)),
		"--listen", fmt.Sprintf("%s:%d", pr212Hosts[i], port), "--restart-window", "1s")
}

var pr212Hosts = []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"}

// freePort returns a port free on every PR #212 host.
func freePort() (int, error) {
	for range 50 {
		ln, err := net.Listen("tcp", pr212Hosts[0]+":0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ok := true
		for _, h := range pr212Hosts[1:] {
			l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", h, port))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		ln.Close()
		if ok {
			return port, nil
		}
	}
	return 0, errors.New("no port free on all PR #212 hosts")
}

func startSim(ctx context.Context, bin string, args []string) (*sim, error) {
	id := strings.Join(args, " ")
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	proc, err := zktest.StartProc(cmd)
	if err != nil {
		return nil, err
	}
	p := &sim{Proc: proc}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, "listening on "); i >= 0 {
				select {
				case urlc <- strings.TrimSpace(line[i+len("listening on "):]):
				default:
				}
			}
		}
	}()
	select {
	case p.url = <-urlc:
		return p, nil
	case <-p.Exited():
		return nil, fmt.Errorf("livy-sim %s exited before listening", id)
	case <-time.After(30 * time.Second):
		p.stop(syscall.SIGKILL)
		return nil, fmt.Errorf("livy-sim %s did not start", id)
	case <-ctx.Done():
		p.stop(syscall.SIGKILL)
		return nil, ctx.Err()
	}
}

// prober measures the outage a client observes: it sends GET /version
// through the HA client in a loop and records when requests stop and start
// succeeding.
type prober struct {
	mu    sync.Mutex
	since time.Time // the event being measured
	first time.Time // end of the first success that started after since
	got   chan struct{}
}

// mark starts measuring an outage from now.
func (p *prober) mark() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.since, p.first, p.got = time.Now(), time.Time{}, make(chan struct{})
	return p.since
}

func (p *prober) run(ctx context.Context, c *livyclient.Client) {
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		t0 := time.Now()
		_, err := c.Version(rctx)
		cancel()
		if err == nil {
			p.mu.Lock()
			if p.got != nil && p.first.IsZero() && t0.After(p.since) {
				p.first = time.Now()
				close(p.got)
			}
			p.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// outage waits until a request that started after the mark has succeeded
// and returns how long after the mark it did: the outage a client saw.
func (p *prober) outage(ctx context.Context) time.Duration {
	p.mu.Lock()
	got := p.got
	p.mu.Unlock()
	select {
	case <-got:
	case <-ctx.Done():
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.first.Sub(p.since)
}

func run(ctx context.Context, simBin, findBin string, st time.Duration, profile string) error {
	say("starting a 3-node ZooKeeper ensemble on loopback ...")
	zkc, err := zktest.StartCluster(ctx, zktest.Config{Nodes: 3})
	if err != nil {
		return fmt.Errorf("start ZooKeeper: %w", err)
	}
	defer zkc.Close()
	connect := zkc.ConnectString()
	say("ZooKeeper up: %s", connect)

	sims := map[string]*sim{} // by URL
	defer func() {
		for _, p := range sims {
			p.stop(syscall.SIGKILL)
		}
	}()
	var conf string
	var port int
	target, findTarget := connect, []string{"--zk", connect}
	if profile == "pr212" {
		dir, err := os.MkdirTemp("", "failover-pr212")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		conf = filepath.Join(dir, "livy.conf")
		if port, err = freePort(); err != nil {
			return err
		}
		target, findTarget = "livy-conf://"+conf, []string{"--livy-conf", conf}
	}
	for i := 0; i < 3; i++ {
		p, err := startSim(ctx, simBin, simArgs(profile, connect, conf, port, i, st))
		if err != nil {
			return err
		}
		sims[p.url] = p
		say("livy-sim %d (%s profile) up at %s", i+1, profile, p.url)
	}

	r, err := discovery.NewResolver(target)
	if err != nil {
		return err
	}
	defer r.Close()
	copts := []livyclient.Option{livyclient.WithResolver(r)}
	if os.Getenv("LIVYHA_DEBUG") != "" { // show the HA transport's decisions
		copts = append(copts, livyclient.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	c, err := livyclient.New(copts...)
	if err != nil {
		return err
	}
	livyFind := func(args ...string) {
		out, err := exec.CommandContext(ctx, findBin, append(slices.Clone(findTarget), args...)...).CombinedOutput()
		say("$ livy-find %s\n%s", strings.Join(args, " "), indent(string(out)))
		if err != nil {
			say("livy-find: %v", err)
		}
	}
	active := func() (discovery.Server, error) {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return r.Active(actx)
	}
	if _, err := active(); err != nil {
		return err
	}
	livyFind("servers")

	// Work through the client.
	sess, err := c.Sessions.Create(ctx, &livyclient.CreateSessionRequest{Kind: "spark"})
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	say("interactive session %d created (%s)", sess.ID, sess.State)
	if sess, err = c.Sessions.Wait(ctx, sess.ID, livyclient.StateIdle); err != nil {
		return fmt.Errorf("wait for session: %w", err)
	}
	say("session %d is %s", sess.ID, sess.State)
	runStmt := func(code string) error {
		st, err := c.Statements.Run(ctx, sess.ID, &livyclient.StatementRequest{Code: code})
		if err != nil {
			return fmt.Errorf("run %q: %w", code, err)
		}
		if st, err = c.Statements.Wait(ctx, sess.ID, st.ID); err != nil {
			return fmt.Errorf("wait for statement: %w", err)
		}
		text, _ := st.Output.Text()
		say("statement %d %q -> %s %s", st.ID, code, st.Output.Status, text)
		return nil
	}
	if err := runStmt("1 + 1"); err != nil {
		return err
	}
	batch, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "local:///opt/spark/examples/pi.py", Args: []string{"100"}})
	if err != nil {
		return fmt.Errorf("submit batch: %w", err)
	}
	say("batch %d submitted (name %s, %s)", batch.ID, deref(batch.Name), batch.State)

	pctx, pcancel := context.WithCancel(ctx)
	defer pcancel()
	pr := &prober{}
	go pr.run(pctx, c)

	// kill -9 of the active server.
	old, err := active()
	if err != nil {
		return err
	}
	say("kill -9 of the active server %s (%s); ZooKeeper expires its session after %s", old.Name, old.URL, st)
	view := viewChange(r, old.URL)
	pr.mark()
	sims[old.URL].stop(syscall.SIGKILL)
	if err := runStmt("20 + 22"); err != nil { // blocks through the failover
		return err
	}
	killOutage := pr.outage(ctx)
	killView := view()
	now, _ := active()
	say("client-observed outage after kill -9: %v; servers' failover (a new active serving) %v (target: session timeout %v + 250ms); active is now %s",
		killOutage.Round(time.Millisecond), killView.Round(time.Millisecond), st, now.Name)

	done, err := c.Batches.Wait(ctx, batch.ID)
	if err != nil {
		return fmt.Errorf("wait for batch: %w", err)
	}
	say("batch %d finished on the new active: %s", done.ID, done.State)
	list, err := c.Batches.List(ctx, nil)
	if err != nil {
		return err
	}
	say("batches on the cluster: %d (no duplicates)", list.Total)
	livyFind("servers")

	// Graceful stop of the new active.
	say("SIGTERM to the active server %s", now.Name)
	view = viewChange(r, now.URL)
	pr.mark()
	go sims[now.URL].stop(syscall.SIGTERM)
	if err := runStmt("6 * 7"); err != nil {
		return err
	}
	termOutage := pr.outage(ctx)
	termView := view()
	last, _ := active()
	say("client-observed outage after SIGTERM: %v; servers' failover %v (target: 250ms; PR #212 keeps its latch until the session expires); active is now %s",
		termOutage.Round(time.Millisecond), termView.Round(time.Millisecond), last.Name)
	livyFind("servers", "--format", "json")
	if err := c.Sessions.Delete(ctx, sess.ID); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	say("summary (%s): outage kill -9 %v (servers %v), SIGTERM %v (servers %v); every request succeeded", profile,
		killOutage.Round(time.Millisecond), killView.Round(time.Millisecond), termOutage.Round(time.Millisecond), termView.Round(time.Millisecond))
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	say("done; stopping every process")
	return nil
}

// viewChange starts timing the servers' own failover: the returned
// function waits until the resolver names an active other than old and
// that server itself answers GET /version with 200 (a PR #212 server
// restarts Jetty after winning the latch), and returns how long after the
// call that was.
func viewChange(r *discovery.Resolver, old string) func() time.Duration {
	t0 := time.Now()
	res := make(chan time.Duration, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	go func() {
		defer cancel()
		for snap := range r.Subscribe(ctx) {
			srv, err := snap.Active()
			if err != nil || srv.URL == old {
				continue
			}
			hc := &http.Client{Timeout: time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			for ctx.Err() == nil {
				resp, err := hc.Get(srv.URL + "/version")
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						res <- time.Since(t0)
						return
					}
				}
				time.Sleep(10 * time.Millisecond) // a closed port sends no event: poll it
			}
		}
		res <- -1
	}()
	return func() time.Duration { return <-res }
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
