// Command find is the README's discovery example: between the readme
// markers this file and the README's "discovery" Go block are identical
// (examples/readme/readme_test.go checks it and runs the program against an
// in-process Livy stand-in and, with ZooKeeper, across a livy-sim failover).
//
//	LIVY_TARGET=127.0.0.1:2181 go run ./examples/readme/find
//
//readme:begin discovery
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/livyha/livyha/discovery"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

// run prints the active server and the owner of a session, then the new
// leader at each failover, until Ctrl-C.
func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	r, err := discovery.NewResolver(os.Getenv("LIVY_TARGET")) // any target string
	if err != nil {
		return err
	}
	defer r.Close()

	first, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	active, err := r.Active(first) // waits for the first snapshot; then lock-free, no ZooKeeper round trip
	if err != nil {
		return err // says what was read and what else is there
	}
	fmt.Println("active:", active.URL)
	owner, err := r.Owner(first, discovery.Interactive, 10000001) // multi-active: server 1; active-passive: the active
	if err != nil {
		return err
	}
	fmt.Println("session 10000001:", owner.URL)

	for snap := range r.Subscribe(ctx) { // the current snapshot, then every newer one
		if leader, ok := snap.Leader(); ok && leader.URL != active.URL {
			fmt.Println("active:", leader.URL) // a failover
			active = leader
		}
	}
	return nil
}

//readme:end
