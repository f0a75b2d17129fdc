package discovery

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/go-zookeeper/zk"
	"github.com/livyha/livyha/discovery/layout"
)

// Finding is one known layout found in ZooKeeper by Probe.
type Finding struct {
	// Layout is the layout found.
	Layout Layout `json:"layout"`
	// Path is where it was found (relative to the chroot).
	Path string `json:"path"`
	// Detail says what is there, e.g. "3 server records, latch with 2 participants".
	Detail string `json:"detail"`
	// Target is the target string that reads it.
	Target string `json:"target"`
}

func (f Finding) String() string {
	return fmt.Sprintf("%s layout at %s (%s): %s", f.Layout, f.Path, f.Detail, f.Target)
}

// Probe limits: it lists at most probeMaxNodes znodes, probeMaxDepth deep.
const (
	probeMaxNodes = 400
	probeMaxDepth = 4
)

// Probe looks for every known layout in ZooKeeper (below the connect
// string's chroot): livyha's canonical layout, PR #212 latches (string
// participant ids), PR #189 server.uri nodes, PR #276 service directories,
// HiveServer2/Kyuubi namespaces in zooKeeper and zooKeeperHA mode. It
// returns what it found with the target string to use for each. It reads a
// bounded number of znodes (breadth first, at most 400, 4 levels deep) and
// is bounded by ctx.
func Probe(ctx context.Context, connect string, opts ...ResolverOption) ([]Finding, error) {
	t, err := ParseTarget(connect)
	if err != nil {
		return nil, err
	}
	if t.Kind != "zk" {
		return nil, fmt.Errorf("%w: Probe needs a ZooKeeper connect string or zk:// target", ErrBadTarget)
	}
	cfg, err := resolverConfig(opts)
	if err != nil {
		return nil, err
	}
	conns := &connTracker{base: cfg.dialer}
	sess, err := dialSession(t.ZK, sessionConfig{timeout: cfg.sessionTimeout, dialer: conns.dial(ctx), log: cfg.log, auth: cfg.auth})
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	type result struct {
		f   []Finding
		err error
	}
	ch := make(chan result, 1)
	stop := make(chan struct{})
	go func() {
		for sess.State() != zk.StateHasSession {
			select {
			case <-sess.notify:
			case <-stop:
				ch <- result{err: errors.New("stopped")}
				return
			}
		}
		if err := sess.ensureAuth(); err != nil {
			ch <- result{err: err}
			return
		}
		f, err := probeTree(sess, t.ZK, probeMaxNodes)
		ch <- result{f, err}
	}()
	select {
	case r := <-ch:
		return r.f, r.err
	case <-ctx.Done():
		close(stop)
		conns.closeAll()
		sess.Close()
		<-ch
		return nil, withDialError(fmt.Errorf("%w: probing %s (session %s): %w", ErrUnavailable, t.ZK, sess.State(), ctx.Err()), sess)
	}
}

// probeTree walks the tree breadth first and classifies what it sees.
func probeTree(sess *zkSession, cs ConnectString, maxNodes int) ([]Finding, error) {
	type node struct {
		path  string
		depth int
	}
	base := "zk://" + cs.String()
	target := func(params string) string { return base + "?" + params }
	var out []Finding
	queue := []node{{"/", 0}}
	visited := 0
	children := func(p string) ([]string, error) {
		kids, err := sess.Children(p)
		if errors.Is(err, zk.ErrNoNode) {
			return nil, nil
		}
		if errors.Is(err, zk.ErrNoAuth) {
			return nil, nil // not ours to read: skip
		}
		if err != nil {
			return nil, fmt.Errorf("%w: list %s: %w", ErrUnavailable, p, err)
		}
		sort.Strings(kids)
		return kids, nil
	}
	get := func(p string) []byte {
		d, _, err := sess.Get(p)
		if err != nil {
			return nil
		}
		return d
	}
	for len(queue) > 0 && visited < maxNodes {
		n := queue[0]
		queue = queue[1:]
		visited++
		kids, err := children(n.path)
		if err != nil {
			return out, err
		}
		name := path.Base(n.path)
		has := func(k string) bool { return sortedHas(kids, k) }
		switch {
		case n.path == "/zookeeper":
			continue
		case has(layout.ServersDir):
			// A canonical root: <root>/servers and <root>/leader.
			recs, _ := children(layout.JoinPath(n.path, layout.ServersDir))
			nrec := countPrefix(recs, layout.ServerNamePrefix)
			latch, _ := children(layout.JoinPath(n.path, layout.LeaderDir))
			if nrec == 0 && len(latch) == 0 {
				continue // an empty leftover
			}
			params := "root=" + queryValue(n.path)
			detail := strconv.Itoa(nrec) + " server records, latch with " + strconv.Itoa(len(latch)) + " participants"
			switch {
			case has(layout.SessionDir):
				params += "&mode=session-ha"
				detail += ", session ownership records"
			case nrec > 0 && len(latch) == 0:
				params += "&mode=multi-active"
				detail += " (no latch: multi-active)"
			}
			out = append(out, Finding{Layout: LayoutCanonical, Path: n.path, Detail: detail, Target: target(params)})
			continue // its children are its own
		case name == layout.PR212LeaderDir && len(kids) > 0 && strings.Contains(kids[0], "latch-"):
			// A latch with no records beside it: PR #212 when its ids
			// are not numbers.
			first := layout.SortLatchChildren(append([]string(nil), kids...))[0]
			data := get(layout.JoinPath(n.path, first))
			if _, err := layout.ParseLatchData(data); err == nil {
				break // a canonical latch without records: reported by its root
			}
			id, err := layout.ParsePR212Participant(data)
			if err != nil {
				break
			}
			prefix := strings.TrimPrefix(path.Dir(n.path), "/")
			out = append(out, Finding{Layout: LayoutPR212, Path: n.path,
				Detail: "Curator latch with " + strconv.Itoa(len(kids)) + " participants, leader id " + strconv.Quote(id),
				Target: target("layout=pr212&namespace=" + queryValue(prefix) + "&conf=/etc/livy/conf/livy.conf")})
			continue
		case name == layout.PR189DefaultNode:
			if u, err := layout.ParsePR189URI(get(n.path)); err == nil {
				out = append(out, Finding{Layout: LayoutPR189, Path: n.path, Detail: "server URL " + u,
					Target: target("layout=pr189&path=" + queryValue(n.path))})
			}
			continue
		case strings.HasSuffix(n.path, "/zk/services"):
			out = append(out, Finding{Layout: LayoutPR276, Path: n.path, Detail: strconv.Itoa(len(kids)) + " services",
				Target: target("layout=pr276&path=" + queryValue(n.path))})
			continue
		case countPrefix(kids, layout.ServerNamePrefix) > 0:
			ns := strings.TrimPrefix(n.path, "/")
			out = append(out, Finding{Layout: LayoutHive, Path: n.path,
				Detail: strconv.Itoa(countPrefix(kids, layout.ServerNamePrefix)) + " serverUri= registrations",
				Target: target("layout=hive&namespace=" + queryValue(ns))})
			continue
		case (strings.HasSuffix(name, "-unsecure") || strings.HasSuffix(name, "-sasl")) && has(layout.HiveHAInstancesDir):
			inst, _ := children(layout.JoinPath(n.path, layout.HiveHAInstancesDir))
			ns, sasl := strings.TrimPrefix(n.path, "/"), ""
			if strings.HasSuffix(ns, "-sasl") {
				ns, sasl = strings.TrimSuffix(ns, "-sasl"), "&sasl=true"
			} else {
				ns = strings.TrimSuffix(ns, "-unsecure")
			}
			out = append(out, Finding{Layout: LayoutHiveHA, Path: n.path,
				Detail: strconv.Itoa(countPrefix(inst, layout.HiveHAInstancePrefix)) + " instances",
				Target: target("layout=hive-ha&namespace=" + queryValue(ns) + sasl)})
			continue
		}
		if n.depth+1 >= probeMaxDepth {
			continue
		}
		for _, k := range kids {
			queue = append(queue, node{layout.JoinPath(n.path, k), n.depth + 1})
		}
	}
	return out, nil
}

// queryValue escapes a target parameter's value, leaving the characters a
// path or a list needs readable ("root=/livy", not "root=%2Flivy").
func queryValue(s string) string { return readable.Replace(url.QueryEscape(s)) }

var readable = strings.NewReplacer("%2F", "/", "%3A", ":", "%2C", ",")

func sortedHas(sorted []string, k string) bool {
	i := sort.SearchStrings(sorted, k)
	return i < len(sorted) && sorted[i] == k
}

func countPrefix(names []string, prefix string) int {
	n := 0
	for _, s := range names {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// hintFor says what else Probe found besides what a source reads: the
// sentence appended to a "no servers"/"no leader" error.
func hintFor(found []Finding, reading string) string {
	var hs []string
	found = slices.Clone(found)
	slices.SortStableFunc(found, func(a, b Finding) int {
		return slices.Index(layouts, a.Layout) - slices.Index(layouts, b.Layout)
	})
	for _, f := range found {
		if f.Target == reading || len(hs) == 4 {
			continue
		}
		hs = append(hs, "found a "+layoutTitle(f.Layout)+" at "+f.Path+" ("+f.Detail+"): use "+f.Target)
	}
	if len(hs) == 0 {
		return ""
	}
	return "; " + strings.Join(hs, "; ")
}

func layoutTitle(l Layout) string {
	switch l {
	case LayoutCanonical:
		return "livyha layout"
	case LayoutPR212:
		return "PR #212 layout"
	case LayoutPR189:
		return "PR #189 layout"
	case LayoutPR276:
		return "PR #276 layout"
	case LayoutHive:
		return "Hive/Kyuubi namespace"
	case LayoutHiveHA:
		return "Hive HA namespace"
	}
	return string(l)
}
