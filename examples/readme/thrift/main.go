// Command thrift is the README's thrift example: between the readme markers
// this file and the README's "thrift" Go block are identical
// (examples/readme/readme_test.go checks it and, with ZooKeeper, runs the
// program against livy-sim servers started with --thrift-auth NONE).
//
//	LIVY_TARGET=127.0.0.1:2181 go run ./examples/readme/thrift
//
//readme:begin thrift
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/beltran/gohive"
	"github.com/livyha/livyha/thrift"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Candidates from any target string: livyha's layout (each server's
	// published Thrift endpoint, the leader first) or a HiveServer2/Kyuubi
	// namespace such as zk://zk1:2181?layout=hive-ha.
	src, r, err := thrift.TargetSource(os.Getenv("LIVY_TARGET"))
	if err != nil {
		return err
	}
	defer r.Close()
	loc := thrift.NewLocator(src)

	// auth is the servers' hive.server2.authentication in gohive's terms:
	// "NONE" (SASL PLAIN, Hive's default), "NOSASL", "KERBEROS", "LDAP", ...
	conn, err := thrift.ConnectHive(ctx, loc, "NONE", nil)
	if err != nil {
		return err // names every candidate and why it failed
	}
	defer conn.Close()
	cur := conn.Cursor()
	defer cur.Close()
	cur.Exec(ctx, "SELECT 1")
	var one int32
	cur.FetchOne(ctx, &one)
	if cur.Err != nil {
		return cur.Err
	}
	fmt.Println("SELECT 1 ->", one)

	// Or keep gohive's own Connect and let it dial through the locator:
	// whatever host and port it is given, it reaches the active server.
	cfg := gohive.NewConnectConfiguration()
	cfg.DialContext = thrift.DialContext(loc)
	conn2, err := gohive.Connect("livy", 10000, "NONE", cfg)
	if err != nil {
		return err
	}
	return conn2.Close()
}

//readme:end
