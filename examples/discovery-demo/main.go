// Command discovery-demo is the local demo of livyha's discovery: it starts
// a real 3-node ZooKeeper ensemble on loopback and two livy-registrar
// processes that elect a leader, then shows how fast a client following
// the watch-backed Resolver sees the failover when the leader stops
// gracefully (SIGTERM) and when it dies (kill -9). It stops everything it
// started, also on Ctrl-C or error.
//
//	go run ./examples/discovery-demo --registrar bin/livy-registrar --find bin/livy-find
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/internal/zktest"
)

func main() {
	registrar := flag.String("registrar", "bin/livy-registrar", "path of the livy-registrar binary")
	find := flag.String("find", "bin/livy-find", "path of the livy-find binary")
	sessionTimeout := flag.Duration("session-timeout", 2*time.Second, "registrar ZooKeeper session timeout")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *registrar, *find, *sessionTimeout); err != nil {
		fmt.Fprintln(os.Stderr, "discovery-demo:", err)
		stop()
		os.Exit(1)
	}
}

var start = time.Now()

func say(format string, args ...any) {
	fmt.Printf("[%7.3fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, registrarBin, findBin string, st time.Duration) error {
	say("starting a 3-node ZooKeeper ensemble on loopback ...")
	zkc, err := zktest.StartCluster(ctx, zktest.Config{Nodes: 3})
	if err != nil {
		return fmt.Errorf("start ZooKeeper: %w", err)
	}
	defer zkc.Close()
	connect := zkc.ConnectString()
	say("ZooKeeper up: %s", connect)

	var procs []*zktest.Proc
	defer func() {
		for _, p := range procs {
			p.Signal(syscall.SIGKILL, 5*time.Second)
		}
	}()
	startRegistrar := func(id int) (*zktest.Proc, error) {
		cmd := exec.Command(registrarBin, "--zk", connect, "--id", fmt.Sprint(id),
			"--url", fmt.Sprintf("http://127.0.0.1:%d", 18997+id), "--thrift", fmt.Sprintf("127.0.0.1:%d", 10089+id),
			"--elect", "--session-timeout", st.String())
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
		p, err := zktest.StartProc(cmd)
		if err != nil {
			return nil, fmt.Errorf("start registrar %d: %w", id, err)
		}
		procs = append(procs, p)
		return p, nil
	}

	r, err := discovery.NewResolver(connect)
	if err != nil {
		return err
	}
	defer r.Close()
	waitLeader := func(id, servers int) (time.Duration, error) {
		t0 := time.Now()
		wctx, cancel := context.WithTimeout(ctx, st+10*time.Second)
		defer cancel()
		for {
			s := r.Snapshot()
			if l, ok := s.Leader(); s.Ready() && ok && l.ID == id && len(s.Servers) == servers {
				return time.Since(t0), nil
			}
			select {
			case <-s.Changed():
			case <-wctx.Done():
				return 0, fmt.Errorf("waiting for leader %d with %d servers: %w", id, servers, wctx.Err())
			}
		}
	}
	livyFind := func(args ...string) {
		out, err := exec.CommandContext(ctx, findBin, append([]string{"--zk", connect}, args...)...).CombinedOutput()
		say("$ livy-find %s\n%s", strings.Join(args, " "), indent(string(out)))
		if err != nil {
			say("livy-find: %v", err)
		}
	}

	a, err := startRegistrar(1)
	if err != nil {
		return err
	}
	if _, err := waitLeader(1, 1); err != nil {
		return err
	}
	b, err := startRegistrar(2)
	if err != nil {
		return err
	}
	if _, err := waitLeader(1, 2); err != nil {
		return err
	}
	livyFind("servers")
	livyFind("active")

	say("SIGTERM to the leader (registrar 1): a graceful stop deletes its nodes at once")
	t0 := time.Now()
	a.Signal(syscall.SIGTERM, 5*time.Second)
	if _, err := waitLeader(2, 1); err != nil {
		return err
	}
	say("client sees registrar 2 as active %v after the SIGTERM", time.Since(t0).Round(time.Millisecond))
	livyFind("active")

	if _, err := startRegistrar(1); err != nil {
		return err
	}
	if _, err := waitLeader(2, 2); err != nil {
		return err
	}
	say("registrar 1 is back, as a passive")
	say("kill -9 of the leader (registrar 2): its nodes live until its %v session expires", st)
	t0 = time.Now()
	b.Signal(syscall.SIGKILL, 5*time.Second)
	if _, err := waitLeader(1, 1); err != nil {
		return err
	}
	say("client sees registrar 1 as active %v after the kill -9 (session timeout %v)", time.Since(t0).Round(time.Millisecond), st)
	livyFind("servers", "--format", "json")
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	say("done; stopping every process")
	return nil
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
