package testutil

import (
	"net"
	"strconv"
	"testing"
)

// FreePortOn returns a TCP port that is free on every one of hosts
// (loopback addresses), for servers that must share one port on several
// addresses — as a PR #212 cluster's livy.server.port does. It skips the
// test when the first host cannot be listened on.
func FreePortOn(t testing.TB, hosts ...string) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", net.JoinHostPort(hosts[0], "0"))
		if err != nil {
			t.Skipf("cannot listen on %s: %v", hosts[0], err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ok := true
		for _, h := range hosts[1:] {
			l, err := net.Listen("tcp", net.JoinHostPort(h, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			_ = l.Close()
		}
		_ = ln.Close()
		if ok {
			return port
		}
	}
	t.Fatal("no port free on all hosts")
	return 0
}
