package livyclient_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/livyha/livyha/livyclient"
	"github.com/livyha/livyha/livytest"
)

// idleExample starts a stand-in, a client and an idle session of kind.
func idleExample(ctx context.Context, cfg livytest.Config, kind, name string) (*livytest.Server, *livyclient.Client, int) {
	cfg.Step = 5 * time.Millisecond
	srv, err := livytest.Start(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	c, err := livyclient.New(livyclient.WithEndpoints(srv.URL()), livyclient.WithPollInterval(5*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	s, err := c.Sessions.Create(ctx, &livyclient.CreateSessionRequest{Kind: kind, Name: name})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Sessions.Wait(ctx, s.ID, livyclient.StateIdle); err != nil {
		log.Fatal(err)
	}
	return srv, c, s.ID
}

// Completions from the session's Scala interpreter.
func ExampleStatementsService_Complete() {
	ctx := context.Background()
	srv, c, id := idleExample(ctx, livytest.Config{}, "spark", "")
	defer srv.Close()
	cands, err := c.Statements.Complete(ctx, id, &livyclient.CompletionRequest{Code: "sc.te", Kind: "spark", Cursor: 5})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cands)
	// Output: [textFile]
}

// The newest statements first (Livy 0.8 and later honour order=desc).
func ExampleStatementsService_ListWithOptions() {
	ctx := context.Background()
	srv, c, id := idleExample(ctx, livytest.Config{}, "spark", "")
	defer srv.Close()
	for _, code := range []string{"1", "2", "3"} {
		st, err := c.Statements.Run(ctx, id, &livyclient.StatementRequest{Code: code})
		if err != nil {
			log.Fatal(err)
		}
		if _, err := c.Statements.Wait(ctx, id, st.ID); err != nil {
			log.Fatal(err)
		}
	}
	l, err := c.Statements.ListWithOptions(ctx, id, &livyclient.StatementListOptions{Desc: true, Size: 2})
	if err != nil {
		log.Fatal(err)
	}
	for _, st := range l.Statements {
		fmt.Println(st.ID, st.Code)
	}
	fmt.Println("of", l.TotalStatements)
	// Output:
	// 2 3
	// 1 2
	// of 3
}

// A table made by pyspark's %table magic.
func ExampleStatementOutput_Table() {
	ctx := context.Background()
	srv, c, id := idleExample(ctx, livytest.Config{}, "pyspark", "")
	defer srv.Close()
	st, err := c.Statements.Run(ctx, id, &livyclient.StatementRequest{Code: "x = [[1, 'a'], [3, 'b']]\n%table x"})
	if err != nil {
		log.Fatal(err)
	}
	if st, err = c.Statements.Wait(ctx, id, st.ID); err != nil {
		log.Fatal(err)
	}
	t, err := st.Output.Table()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.Headers)
	fmt.Println(t.Data)
	// Output:
	// [{0 INT_TYPE} {1 STRING_TYPE}]
	// [[1 a] [3 b]]
}

// A session addressed by its name.
func ExampleSessionsService_ByName() {
	ctx := context.Background()
	srv, c, _ := idleExample(ctx, livytest.Config{}, "spark", "notebook-7")
	defer srv.Close()
	st, err := c.Sessions.ByName("notebook-7").State(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st)
	if err := c.Sessions.ByName("notebook-7").Delete(ctx); err != nil {
		log.Fatal(err)
	}
	// Output: idle
}

// Heartbeats for a session created with heartbeatTimeoutInSecond, until
// the work with it is done.
func ExampleSessionsService_KeepAlive() {
	ctx := context.Background()
	srv, err := livytest.Start(ctx, livytest.Config{Profile: livytest.ProfileLivy09, Step: 5 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, _ := livyclient.New(livyclient.WithEndpoints(srv.URL()))
	s, err := c.Sessions.Create(ctx, &livyclient.CreateSessionRequest{Kind: "spark", HeartbeatTimeoutInSecond: 60})
	if err != nil {
		log.Fatal(err)
	}
	kctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Sessions.KeepAlive(kctx, s.ID, 50*time.Millisecond) }()
	// … work with the session …
	stop()
	fmt.Println(<-done)
	// Output: <nil>
}

// A superuser creating a batch on behalf of another user.
func ExampleWithDoAs() {
	ctx := context.Background()
	srv, err := livytest.Start(ctx, livytest.Config{Impersonation: true, SuperUsers: []string{"gateway"},
		BasicAuth: &livytest.BasicAuth{User: "gateway", Password: "pw"}})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, _ := livyclient.New(livyclient.WithEndpoints(srv.URL()),
		livyclient.WithAuth(livyclient.BasicAuth{User: "gateway", Password: "pw"}))
	b, err := c.Batches.Create(livyclient.WithDoAs(ctx, "alice"), &livyclient.CreateBatchRequest{File: "local:///opt/jobs/pi.py"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(*b.Owner, *b.ProxyUser)
	// Output: gateway alice
}
