package manual_test

import (
	"context"
	"fmt"

	"github.com/livyha/livyha/discovery"
	"github.com/livyha/livyha/discovery/manual"
)

// A test drives a resolver through a failover without ZooKeeper.
func Example() {
	src := manual.New(discovery.State{
		Servers: []discovery.Server{manual.Server("1", "http://127.0.0.1:18998"), manual.Server("2", "http://127.0.0.2:18998")},
		Leader:  "1",
	})
	r, err := discovery.NewResolverFromSource(src)
	if err != nil {
		panic(err)
	}
	defer r.Close()
	ctx := context.Background()
	a, _ := r.Active(ctx)
	fmt.Println("active:", a.URL)

	changed := r.Changed()
	src.Update(discovery.State{Servers: []discovery.Server{manual.Server("2", "http://127.0.0.2:18998")}, Leader: "2"})
	<-changed
	a, _ = r.Active(ctx)
	fmt.Println("after the failover:", a.URL)

	src.Update(discovery.State{Mode: discovery.MultiActive, Servers: []discovery.Server{manual.Server("2", "http://127.0.0.2:18998")}})
	o, _ := r.Owner(ctx, discovery.Batch, 20_000_001)
	fmt.Println("owner of batch 20000001:", o.Name)
	// Output:
	// active: http://127.0.0.1:18998
	// after the failover: http://127.0.0.2:18998
	// owner of batch 20000001: 2
}
