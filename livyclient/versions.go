package livyclient

import (
	"fmt"
	"strconv"
	"strings"
)

// sessionFields are CreateSessionRequest's fields that not every Livy
// release accepts: Livy answers 400 `Unrecognized field "ttl"` (Jackson)
// for a field its CreateInteractiveRequest lacks (docs/livy-wire.md §9).
var sessionFields = []struct {
	name  string
	since [2]int // first release that accepts it
	set   func(*CreateSessionRequest) bool
}{
	{"ttl", [2]int{0, 8}, func(r *CreateSessionRequest) bool { return r.TTL != "" }},
	{"idleTimeout", [2]int{0, 9}, func(r *CreateSessionRequest) bool { return r.IdleTimeout != "" }},
}

// checkSessionFields refuses, before anything is sent, a field that every
// known server's Livy release rejects. A server's release is known from
// its record (livyha's layout publishes it); an unknown version, or a
// SNAPSHOT build (PR #212 reports 0.8.0-incubating-SNAPSHOT with 0.7's
// fields, Livy's HEAD 0.9.0-incubating-SNAPSHOT with 0.9's), is not
// judged: the server decides.
func (c *Client) checkSessionFields(req *CreateSessionRequest) error {
	rc, ok := c.transport.cluster.(*resolverCluster)
	if !ok {
		return nil
	}
	servers := rc.loc.Servers()
	if len(servers) == 0 {
		return nil
	}
	for _, f := range sessionFields {
		if !f.set(req) {
			continue
		}
		rejected, version, host := true, "", ""
		for _, srv := range servers {
			v, ok := release(srv.Version)
			if !ok || v[0] > f.since[0] || (v[0] == f.since[0] && v[1] >= f.since[1]) {
				rejected = false
				break
			}
			version, host = srv.Version, srv.HostPort
		}
		if rejected {
			return fmt.Errorf("%w: Livy %s (server %s) does not accept %q in a session request; Livy %d.%d and later do",
				ErrBadRequest, version, host, f.name, f.since[0], f.since[1])
		}
	}
	return nil
}

// release parses a Livy release version ("0.7.1-incubating") into major
// and minor; SNAPSHOT builds and anything else are not releases.
func release(v string) ([2]int, bool) {
	if v == "" || strings.Contains(strings.ToUpper(v), "SNAPSHOT") {
		return [2]int{}, false
	}
	core, _, _ := strings.Cut(v, "-")
	parts := strings.Split(core, ".")
	if len(parts) < 2 {
		return [2]int{}, false
	}
	maj, err1 := strconv.Atoi(parts[0])
	mnr, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || maj < 0 || mnr < 0 {
		return [2]int{}, false
	}
	return [2]int{maj, mnr}, true
}
