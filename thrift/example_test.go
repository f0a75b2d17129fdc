package thrift_test

import (
	"context"
	"fmt"
	"log"

	"github.com/livyha/livyha/thrift"
	"github.com/livyha/livyha/thrift/hs2test"
)

// Connect gohive to whichever candidate accepts: here a passive that
// refuses and the active, in that order. In production the candidates come
// from thrift.ResolverSource(resolver) or thrift.TargetSource(target).
func ExampleConnectHive() {
	passive, err := hs2test.Start(hs2test.Config{Name: "livy-2", Active: func() bool { return false }})
	if err != nil {
		log.Fatal(err)
	}
	defer passive.Close()
	active, err := hs2test.Start(hs2test.Config{Name: "livy-1"})
	if err != nil {
		log.Fatal(err)
	}
	defer active.Close()

	ctx := context.Background()
	loc := thrift.NewLocator(thrift.StaticSource(passive.Addr(), active.Addr()))
	conn, err := thrift.ConnectHive(ctx, loc, "NOSASL", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	cur := conn.Cursor()
	defer cur.Close()
	cur.Exec(ctx, "SELECT current_server()")
	var name string
	cur.FetchOne(ctx, &name)
	if cur.Err != nil {
		log.Fatal(cur.Err)
	}
	fmt.Println(name)
	// Output: livy-1
}
