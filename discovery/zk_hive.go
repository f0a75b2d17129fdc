package discovery

import (
	"slices"
	"strings"

	"github.com/livyha/livyha/discovery/layout"
)

// hiveLayout reads a HiveServer2 / Kyuubi namespace as a watched source
// (formats in package layout, hive.go and hive_ha.go): in zooKeeper mode
// every serverUri= child is a server that serves (active-active; other
// children such as a leader latch are ignored); in zooKeeperHA mode the
// instance- ServiceRecords, the one with the internal activeEndpoint
// being the leader.
type hiveLayout struct {
	dir string
	ha  bool
}

// newHiveLayout returns the layout for namespace ns ("" for Hive's
// default) in zooKeeper or (ha) zooKeeperHA mode.
func newHiveLayout(ns string, ha, sasl bool) (*hiveLayout, error) {
	if !ha {
		if ns == "" {
			ns = layout.DefaultHiveNamespace
		}
		dir, err := hiveNamespacePath(ns)
		return &hiveLayout{dir: dir}, err
	}
	if ns == "" {
		ns = layout.DefaultHiveHANamespace
	}
	suffix := "-unsecure"
	if sasl {
		suffix = "-sasl"
	}
	p, err := hiveNamespacePath(strings.TrimSuffix(ns, "/") + suffix)
	if err != nil {
		return nil, err
	}
	return &hiveLayout{dir: layout.JoinPath(p, layout.HiveHAInstancesDir), ha: true}, nil
}

func (h *hiveLayout) mode() Mode {
	if h.ha {
		return ActivePassive
	}
	return ActiveActive
}

func (h *hiveLayout) name() string {
	if h.ha {
		return "Hive zooKeeperHA namespace " + h.dir
	}
	return "Hive namespace " + h.dir
}

func (h *hiveLayout) specs() []zkSpec {
	prefix := layout.ServerNamePrefix
	if h.ha {
		prefix = layout.HiveHAInstancePrefix
	}
	return []zkSpec{{path: h.dir, kind: specDir,
		accept: func(name string) (bool, string) { return strings.HasPrefix(name, prefix), "" },
		parse: func(name string, data []byte) (any, error) {
			if !h.ha {
				return layout.ParseHiveNode(name, data)
			}
			inst, err := layout.ParseServiceRecord(data)
			inst.Node, inst.Sequence = name, -1
			if n, serr := layout.ParseSequence(name[len(layout.HiveHAInstancePrefix):]); serr == nil {
				inst.Sequence = n
			}
			return inst, err
		}}}
}

func (h *hiveLayout) build(reads []zkRead) State {
	st := State{Mode: h.mode(), Elected: h.ha}
	var insts []layout.HiveInstance
	for _, e := range reads[0].entries {
		if e.err != nil {
			st.Problems = append(st.Problems, Problem{Path: layout.JoinPath(h.dir, e.name), Reason: e.err.Error()})
			continue
		}
		insts = append(insts, e.val.(layout.HiveInstance))
	}
	slices.SortStableFunc(insts, func(a, b layout.HiveInstance) int {
		switch {
		case (a.Sequence < 0) != (b.Sequence < 0):
			if a.Sequence < 0 {
				return 1
			}
			return -1
		case a.Sequence != b.Sequence:
			if a.Sequence < b.Sequence {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Node, b.Node)
	})
	for _, in := range insts {
		mode := in.TransportMode
		if mode == "all" || mode == "" {
			mode = "binary"
		}
		srv := Server{
			ServerRecord: ServerRecord{ID: -1, Thrift: in.HostPort, ThriftTransport: mode, ThriftHTTPPath: in.HTTPPath, Version: in.Version},
			Name:         in.Node, HostPort: in.HostPort, ThriftAuth: in.Auth, Node: in.Node, Sequence: in.Sequence,
		}
		if mode == "http" {
			srv.Thrift = in.Addr("http")
		}
		st.Servers = append(st.Servers, srv)
		if h.ha && in.Active && st.Leader == "" {
			st.Leader = in.Node
		}
	}
	if len(st.Servers) == 0 {
		st.Empty = wrapf(ErrNoServers, "discovery: no servers registered in the "+h.name())
	}
	if h.ha && st.Leader == "" {
		st.NoLeader = wrapf(ErrNoLeader, "discovery: no leader: no instance in "+h.dir+" has the activeEndpoint")
		st.Elected = len(st.Servers) > 0
	}
	return st
}

func (h *hiveLayout) home() string {
	if h.ha {
		return strings.TrimSuffix(h.dir, "/"+layout.HiveHAInstancesDir)
	}
	return h.dir
}
