package livyclient_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/livyha/livyha/livyclient"
	"github.com/livyha/livyha/livytest"
)

// Submit a batch and wait for it. Here against an in-process Livy
// stand-in; in production use WithResolver(discovery resolver) instead of
// WithEndpoints.
func Example() {
	ctx := context.Background()
	srv, err := livytest.Start(ctx, livytest.Config{Step: 5 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	c, err := livyclient.New(livyclient.WithEndpoints(srv.URL()), livyclient.WithPollInterval(5*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	b, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "local:///opt/jobs/pi.py", Name: "pi"})
	if err != nil {
		log.Fatal(err)
	}
	b, err = c.Batches.Wait(ctx, b.ID) // until a finished state
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(*b.Name, b.State)
	// Output: pi success
}

// Run a statement in an interactive session.
func ExampleStatementsService_Run() {
	ctx := context.Background()
	srv, err := livytest.Start(ctx, livytest.Config{Step: 5 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, _ := livyclient.New(livyclient.WithEndpoints(srv.URL()), livyclient.WithPollInterval(5*time.Millisecond))

	s, err := c.Sessions.Create(ctx, &livyclient.CreateSessionRequest{Kind: "spark"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Sessions.Wait(ctx, s.ID, livyclient.StateIdle); err != nil {
		log.Fatal(err)
	}
	st, err := c.Statements.Run(ctx, s.ID, &livyclient.StatementRequest{Code: "1 + 1"})
	if err != nil {
		log.Fatal(err)
	}
	st, err = c.Statements.Wait(ctx, s.ID, st.ID)
	if err != nil {
		log.Fatal(err)
	}
	text, _ := st.Output.Text()
	fmt.Println(st.State, st.Output.Status, text)
	// Output: available ok res0: Int = 2
}

// The HA transport under any http.Client: requests name any host.
func ExampleClient_Transport() {
	srv, err := livytest.Start(context.Background(), livytest.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, _ := livyclient.New(livyclient.WithEndpoints(srv.URL()))

	hc := &http.Client{Transport: c.Transport()}
	resp, err := hc.Get("http://livy/version")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output: 200
}

// A failing statement is "available" with an error output.
func ExampleStatementOutput_error() {
	ctx := context.Background()
	srv, err := livytest.Start(ctx, livytest.Config{Step: 5 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, _ := livyclient.New(livyclient.WithEndpoints(srv.URL()), livyclient.WithPollInterval(5*time.Millisecond))
	s, _ := c.Sessions.Create(ctx, &livyclient.CreateSessionRequest{Kind: "pyspark"})
	if _, err := c.Sessions.Wait(ctx, s.ID, livyclient.StateIdle); err != nil {
		log.Fatal(err)
	}
	st, err := c.Statements.Run(ctx, s.ID, &livyclient.StatementRequest{Code: "raise ValueError('boom')"})
	if err != nil {
		log.Fatal(err)
	}
	st, err = c.Statements.Wait(ctx, s.ID, st.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.State, st.Output.Status, st.Output.EName != "", len(st.Output.Traceback) > 0)
	// Output: available error true true
}
