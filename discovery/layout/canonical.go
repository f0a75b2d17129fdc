package layout

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// This file is the one place that knows the canonical livyha layout
// (docs/design.md, "The canonical layout"): the server record's node name and
// data, and the Curator-compatible leader latch. Both writers and parsers
// live here.
//
//	<root>/servers/serverUri=<host>:<port>;version=<v>;sequence=<10 digits>   data: k=v;k=v
//	<root>/leader/_c_<uuid>-latch-<10 digits>                                 data: server id

// DefaultRoot is the default root path of the canonical layout.
const DefaultRoot = "/livy"

const (
	ServersDir = "servers"
	LeaderDir  = "leader"

	ServerNamePrefix = "serverUri="
	seqDigits        = 10

	// Record data keys.
	KeyServerID        = "livy.server.id"
	KeyServerURL       = "livy.server.url"
	KeyThriftURI       = "livy.server.thrift.uri"
	KeyThriftTransport = "livy.server.thrift.transport.mode"
	KeyThriftHTTPPath  = "livy.server.thrift.http.path"
	KeyServerVersion   = "livy.server.version"

	// Curator LeaderLatch conventions.
	latchLockName          = "latch-"
	CuratorProtectedPrefix = "_c_"

	// MaxServerID bounds server ids; LIVY-698 ids are 0..213 but the
	// canonical layout allows any id that fits a Livy session id prefix.
	MaxServerID = 1<<31 - 1
)

// ErrBadRecord is wrapped by every error about a server record that does not
// parse or does not validate.
var ErrBadRecord = errors.New("discovery: bad server record")

// ServerRecord is what a Livy server publishes about itself in the data of
// its server node.
type ServerRecord struct {
	// ID is the server id (livy.server.id). In multi-active mode (LIVY-698)
	// session N belongs to server N / 10_000_000.
	ID int `json:"id"`
	// URL is the base URL of the Livy REST endpoint, scheme://host:port[/base].
	URL string `json:"url"`
	// Thrift is the optional host:port of the Livy Thrift (JDBC) endpoint.
	Thrift string `json:"thrift,omitempty"`
	// ThriftTransport is "binary" or "http" (empty: unknown/binary).
	ThriftTransport string `json:"thrift_transport,omitempty"`
	// ThriftHTTPPath is the Thrift HTTP path when ThriftTransport is "http".
	ThriftHTTPPath string `json:"thrift_http_path,omitempty"`
	// Version is the free-form server version.
	Version string `json:"version,omitempty"`
}

// Validate reports whether the record can be published and parsed back.
func (r ServerRecord) Validate() error {
	if r.ID < 0 || r.ID > MaxServerID {
		return fmt.Errorf("%w: id %d out of range", ErrBadRecord, r.ID)
	}
	if _, _, err := URLHostPort(r.URL); err != nil {
		return err
	}
	if r.Thrift != "" {
		if _, _, err := net.SplitHostPort(r.Thrift); err != nil {
			return fmt.Errorf("%w: thrift address %q: %v", ErrBadRecord, r.Thrift, err)
		}
	}
	switch r.ThriftTransport {
	case "", "binary", "http":
	default:
		return fmt.Errorf("%w: thrift transport %q (want binary or http)", ErrBadRecord, r.ThriftTransport)
	}
	for k, v := range map[string]string{KeyServerURL: r.URL, KeyThriftURI: r.Thrift,
		KeyThriftHTTPPath: r.ThriftHTTPPath, KeyServerVersion: r.Version} {
		if strings.ContainsAny(v, ";\n\r\x00") {
			return fmt.Errorf("%w: %s must not contain ';' or control characters", ErrBadRecord, k)
		}
	}
	return nil
}

// URLHostPort checks a Livy base URL and returns its host and port (the
// scheme's default port when the URL has none).
func URLHostPort(raw string) (host string, port int, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", 0, fmt.Errorf("%w: url %q: %v", ErrBadRecord, raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", 0, fmt.Errorf("%w: url %q: scheme must be http or https", ErrBadRecord, raw)
	}
	if u.Hostname() == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", 0, fmt.Errorf("%w: url %q: want scheme://host:port[/base]", ErrBadRecord, raw)
	}
	if strings.Contains(u.Hostname(), ":") && !strings.HasPrefix(u.Host, "[") {
		// "http://a:b:8998": Go's URL parser (before go1.26's stricter
		// colons) takes "a:b" as the host; no server is named that.
		return "", 0, fmt.Errorf("%w: url %q: IPv6 hosts must be bracketed, other hosts have no ':'", ErrBadRecord, raw)
	}
	port = 80
	if u.Scheme == "https" {
		port = 443
	}
	if p := u.Port(); p != "" {
		port, err = strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return "", 0, fmt.Errorf("%w: url %q: bad port", ErrBadRecord, raw)
		}
	}
	return u.Hostname(), port, nil
}

// MarshalData returns the record's znode data: a Hive-style config string
// "k=v;k=v" with keys in a fixed order.
func (r ServerRecord) MarshalData() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	var b strings.Builder
	add := func(k, v string) {
		if v == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v)
	}
	add(KeyServerID, strconv.Itoa(r.ID))
	add(KeyServerURL, r.URL)
	add(KeyThriftURI, r.Thrift)
	add(KeyThriftTransport, r.ThriftTransport)
	add(KeyThriftHTTPPath, r.ThriftHTTPPath)
	add(KeyServerVersion, r.Version)
	return []byte(b.String()), nil
}

// ParseConfigString splits a Hive-style "k=v;k=v" string. Empty segments are
// skipped; a segment without '=' is an error; later keys win.
func ParseConfigString(s string) (map[string]string, error) {
	out := make(map[string]string)
	for _, kv := range strings.Split(s, ";") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("segment %q is not key=value", truncate(kv, 64))
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}

// ParseServerData parses a server record's znode data. Unknown keys are
// ignored; the id and URL are required.
func ParseServerData(data []byte) (ServerRecord, error) {
	kv, err := ParseConfigString(string(data))
	if err != nil {
		return ServerRecord{}, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	idStr, ok := kv[KeyServerID]
	if !ok {
		return ServerRecord{}, fmt.Errorf("%w: missing %s", ErrBadRecord, KeyServerID)
	}
	id, err := parseID(idStr)
	if err != nil {
		return ServerRecord{}, fmt.Errorf("%w: %s: %v", ErrBadRecord, KeyServerID, err)
	}
	r := ServerRecord{
		ID:              id,
		URL:             kv[KeyServerURL],
		Thrift:          kv[KeyThriftURI],
		ThriftTransport: kv[KeyThriftTransport],
		ThriftHTTPPath:  kv[KeyThriftHTTPPath],
		Version:         kv[KeyServerVersion],
	}
	if r.URL == "" {
		return ServerRecord{}, fmt.Errorf("%w: missing %s", ErrBadRecord, KeyServerURL)
	}
	if err := r.Validate(); err != nil {
		return ServerRecord{}, err
	}
	return r, nil
}

// parseID parses a decimal server id ("0".."2147483647", no sign, no
// spaces inside).
func parseID(s string) (int, error) {
	if s == "" || len(s) > 10 {
		return 0, fmt.Errorf("bad id %q", truncate(s, 32))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("bad id %q", truncate(s, 32))
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > MaxServerID {
		return 0, fmt.Errorf("id %q out of range", s)
	}
	return int(n), nil
}

// ServerNodePrefix returns the name (without the sequence digits that
// ZooKeeper appends) of a server record node:
// "serverUri=<host>:<port>;version=<v>;sequence=".
func ServerNodePrefix(r ServerRecord) (string, error) {
	host, port, err := URLHostPort(r.URL)
	if err != nil {
		return "", err
	}
	return serverNodePrefix(net.JoinHostPort(host, strconv.Itoa(port)), r.Version)
}

// serverNodePrefix is the one writer of the "serverUri=" node name, shared
// by the canonical server record and the Hive-compatible Thrift record.
func serverNodePrefix(hostport, version string) (string, error) {
	v := version
	if v == "" {
		v = "unknown"
	}
	if strings.ContainsAny(v, ";/\n\r\x00") {
		return "", fmt.Errorf("%w: version %q", ErrBadRecord, v)
	}
	return ServerNamePrefix + hostport + ";version=" + v + ";sequence=", nil
}

// ServerNodeName is a parsed server record node name.
type ServerNodeName struct {
	HostPort string
	Version  string
	Sequence int64
}

// ParseServerNodeName parses "serverUri=<host>:<port>;version=<v>;sequence=<n>".
// The same name shape is used by HiveServer2 and Kyuubi. Sequence is -1 when
// the name carries none.
func ParseServerNodeName(name string) (ServerNodeName, error) {
	if !strings.HasPrefix(name, ServerNamePrefix) {
		return ServerNodeName{}, fmt.Errorf("%w: node %q is not a serverUri= node", ErrBadRecord, truncate(name, 64))
	}
	out := ServerNodeName{Sequence: -1}
	for i, seg := range strings.Split(name, ";") {
		k, v, ok := strings.Cut(seg, "=")
		if !ok {
			return ServerNodeName{}, fmt.Errorf("%w: node %q: segment %q is not key=value", ErrBadRecord, truncate(name, 64), truncate(seg, 32))
		}
		switch {
		case i == 0:
			out.HostPort = v
		case k == "version":
			out.Version = v
		case k == "sequence":
			n, err := ParseSequence(v)
			if err != nil {
				return ServerNodeName{}, fmt.Errorf("%w: node %q: %v", ErrBadRecord, truncate(name, 64), err)
			}
			out.Sequence = n
		}
	}
	if _, _, err := net.SplitHostPort(out.HostPort); err != nil {
		// HiveServer2 writes Java's host string, which leaves IPv6
		// literals bare ("serverUri=::1:10000"): accept and bracket them.
		host, port, lerr := splitHostPortLoose(out.HostPort)
		if lerr != nil {
			return ServerNodeName{}, fmt.Errorf("%w: node %q: %v", ErrBadRecord, truncate(name, 64), err)
		}
		out.HostPort = net.JoinHostPort(host, port)
	}
	return out, nil
}

// splitHostPortLoose splits "host:port" and "[v6]:port" as net.SplitHostPort
// does, and also a bare IPv6 literal followed by ":port" ("::1:10000",
// "fe80::1%eth0:10000"), the last colon separating the port.
func splitHostPortLoose(s string) (host, port string, err error) {
	host, port, err = net.SplitHostPort(s)
	if err == nil {
		return host, port, nil
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 || strings.ContainsAny(s, "[]") {
		return "", "", err
	}
	if a, perr := netip.ParseAddr(s[:i]); perr != nil || !a.Is6() {
		return "", "", err
	}
	return s[:i], s[i+1:], nil
}

// ParseSequence parses ZooKeeper's sequence suffix: ten digits, or a
// negative number once the 32-bit counter has wrapped.
func ParseSequence(s string) (int64, error) {
	if len(s) < 1 || len(s) > 11 {
		return 0, fmt.Errorf("bad sequence %q", truncate(s, 16))
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("bad sequence %q", truncate(s, 16))
	}
	return n, nil
}

// LatchNodePrefix returns the name (without sequence digits) of a
// Curator-compatible protected LeaderLatch node: "_c_<uuid>-latch-".
func LatchNodePrefix(protectedID string) string {
	return CuratorProtectedPrefix + protectedID + "-" + latchLockName
}

// LatchData is the data a latch participant writes: its decimal server id.
func LatchData(id int) []byte { return []byte(strconv.Itoa(id)) }

// ParseLatchData parses a latch participant's data as a server id.
func ParseLatchData(data []byte) (int, error) {
	id, err := parseID(string(data))
	if err != nil {
		return 0, fmt.Errorf("%w: latch participant id: %v", ErrBadRecord, err)
	}
	return id, nil
}

// latchSortKey is Curator's StandardLockInternalsDriver.fixForSorting: the
// part after the last "latch-", or the whole name when there is none.
func latchSortKey(name string) string {
	if i := strings.LastIndex(name, latchLockName); i >= 0 {
		return name[i+len(latchLockName):]
	}
	return name
}

// SortLatchChildren orders latch children exactly as Curator's LeaderLatch
// does: by the string after the last "latch-" (the whole name if absent),
// compared as strings. It sorts in place and returns the slice.
func SortLatchChildren(children []string) []string {
	sort.SliceStable(children, func(i, j int) bool {
		return latchSortKey(children[i]) < latchSortKey(children[j])
	})
	return children
}

// HasProtectedID reports whether a latch child was created with the
// given Curator protected id.
func HasProtectedID(name, protectedID string) bool {
	return strings.HasPrefix(name, CuratorProtectedPrefix+protectedID+"-")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
