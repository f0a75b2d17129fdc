package discovery

import (
	"fmt"
	"strings"

	"github.com/livyha/livyha/discovery/layout"
)

// HiveRecord is what a Registrar publishes in a Hive namespace while it
// leads (WithHiveRecord). Zero fields take defaults from the ServerRecord.
type HiveRecord struct {
	// Host and Port of the Thrift endpoint; default: ServerRecord.Thrift.
	Host string
	Port int
	// TransportMode is "binary" or "http"; default:
	// ServerRecord.ThriftTransport, else "binary".
	TransportMode string
	// HTTPPath is published in http mode; default:
	// ServerRecord.ThriftHTTPPath, else Hive's default "cliservice".
	HTTPPath string
	// Auth is hive.server2.authentication; default "NONE".
	Auth      string
	UseSSL    bool
	SASLQoP   string
	Principal string
	// Version goes into the node name; default: ServerRecord.Version.
	Version string
	// Settings are further keys to publish.
	Settings map[string]string
}

// instance applies the defaults from rec and returns what to publish.
func (h HiveRecord) instance(rec ServerRecord) (HiveInstance, error) {
	host, port := layout.Unbracket(h.Host), h.Port
	if host == "" || port == 0 {
		if rec.Thrift == "" {
			return HiveInstance{}, fmt.Errorf("%w: hive record: no Thrift endpoint (set HiveRecord.Host and Port or ServerRecord.Thrift)", ErrBadOption)
		}
		th, tp, err := layout.ParseHiveAddr(rec.Thrift)
		if err != nil {
			return HiveInstance{}, fmt.Errorf("%w: hive record: thrift address %q: %v", ErrBadOption, rec.Thrift, err)
		}
		if host == "" {
			host = th
		}
		if port == 0 {
			port = tp
		}
	}
	mode := h.TransportMode
	if mode == "" {
		mode = rec.ThriftTransport
	}
	if mode == "" {
		mode = "binary"
	}
	if mode != "binary" && mode != "http" {
		return HiveInstance{}, fmt.Errorf("%w: hive record: transport mode %q (want binary or http)", ErrBadOption, mode)
	}
	inst := HiveInstance{
		Host: host, Port: port, TransportMode: mode,
		Auth: h.Auth, UseSSL: h.UseSSL, SASLQoP: h.SASLQoP, Principal: h.Principal,
		Version: h.Version, Settings: h.Settings,
	}
	if inst.Version == "" {
		inst.Version = rec.Version
	}
	if inst.Auth == "" {
		inst.Auth = "NONE"
	}
	if mode == "http" {
		inst.HTTPPath = h.HTTPPath
		if inst.HTTPPath == "" {
			inst.HTTPPath = rec.ThriftHTTPPath
		}
		if inst.HTTPPath == "" {
			inst.HTTPPath = "cliservice"
		}
	}
	return inst, nil
}

// hiveNamespacePath turns a Hive namespace ("hiveserver2", "/a/b") into a
// path.
func hiveNamespacePath(ns string) (string, error) {
	p, err := layout.CleanPath("/" + strings.TrimPrefix(ns, "/"))
	if err != nil {
		return "", wrapOnce(ErrBadOption, "hive namespace", err)
	}
	if p == "/" {
		return "", fmt.Errorf("%w: hive namespace must not be the root", ErrBadOption)
	}
	return p, nil
}
