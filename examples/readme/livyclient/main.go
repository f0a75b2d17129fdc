// Command livyclient is the README's livyclient example: between the
// readme markers this file and the README's "livyclient" Go block are
// identical (examples/readme/readme_test.go checks it and runs the program
// against an in-process Livy stand-in and, with ZooKeeper, a livy-sim
// cluster).
//
//	LIVY_TARGET=127.0.0.1:2181 go run ./examples/readme/livyclient
//
//readme:begin livyclient
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/livyha/livyha/livyclient"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// LIVY_TARGET is any target string (see Deployments), for example the
	// ZooKeeper connect string zk1:2181,zk2:2181,zk3:2181.
	opts := []livyclient.Option{livyclient.WithTarget(os.Getenv("LIVY_TARGET"))}
	if user := os.Getenv("LIVY_USER"); user != "" {
		opts = append(opts, livyclient.WithAuth(livyclient.BasicAuth{User: user, Password: os.Getenv("LIVY_PASSWORD")}))
	}
	c, err := livyclient.New(opts...)
	if err != nil {
		return err
	}
	defer c.Close()

	// A batch, created once even across a failover, and its end.
	b, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "local:///opt/jobs/pi.py"})
	if err != nil {
		return err
	}
	if b, err = c.Batches.Wait(ctx, b.ID); err != nil { // polls until a finished state
		return err
	}
	fmt.Println("batch", b.ID, b.State)

	// An interactive session takes statements only once it is idle (while
	// it starts, Livy answers 500), so wait for that first.
	s, err := c.Sessions.Create(ctx, &livyclient.CreateSessionRequest{Kind: "spark"})
	if err != nil {
		return err
	}
	if _, err := c.Sessions.Wait(ctx, s.ID, livyclient.StateIdle); err != nil {
		return err
	}
	st, err := c.Statements.Run(ctx, s.ID, &livyclient.StatementRequest{Code: "1 + 1"})
	if err != nil {
		return err
	}
	if st, err = c.Statements.Wait(ctx, s.ID, st.ID); err != nil { // until available
		return err
	}
	text, _ := st.Output.Text()
	fmt.Println("statement", st.ID, st.Output.Status, text)
	return c.Sessions.Delete(ctx, s.ID)
}

//readme:end
