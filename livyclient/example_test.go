package livyclient_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/discovery/manual"
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

// Code that uses livyclient is tested without ZooKeeper by giving it a
// resolver over a manual source (package discovery/manual), which the test
// moves through a failover.
func ExampleWithResolver_manualSource() {
	ctx := context.Background()
	a, err := livytest.Start(ctx, livytest.Config{Step: 5 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := livytest.Start(ctx, livytest.Config{Step: 5 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	src := manual.New(discovery.State{Servers: []discovery.Server{manual.Server("a", a.URL())}, Leader: "a"})
	r, err := discovery.NewResolverFromSource(src)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	c, err := livyclient.New(livyclient.WithResolver(r))
	if err != nil {
		log.Fatal(err)
	}
	v1, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "local:///opt/jobs/pi.py", Name: "on-a"})
	if err != nil {
		log.Fatal(err)
	}
	src.Update(discovery.State{Servers: []discovery.Server{manual.Server("b", b.URL())}, Leader: "b"}) // "a failover"
	v2, err := c.Batches.Create(ctx, &livyclient.CreateBatchRequest{File: "local:///opt/jobs/pi.py", Name: "on-b"})
	if err != nil {
		log.Fatal(err)
	}
	status := func(u string) int {
		res, err := http.Get(u)
		if err != nil {
			log.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	fmt.Println(*v1.Name, status(a.URL()+"/batches/on-a"), status(b.URL()+"/batches/on-a"))
	fmt.Println(*v2.Name, status(b.URL()+"/batches/on-b"), status(a.URL()+"/batches/on-b"))
	// Output:
	// on-a 200 404
	// on-b 200 404
}
