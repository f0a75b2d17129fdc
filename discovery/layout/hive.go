package layout

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file is the one place that knows HiveServer2's zooKeeper-mode
// registration (docs/design.md, "Hive's conventions"), both its writer and its
// parser, and reads Hive namespaces once (ReadHive) in either mode. The
// zooKeeperHA ServiceRecord format lives in hive_ha.go.
//
//	/<namespace, default hiveserver2>/serverUri=<host>:<port>;version=<v>;sequence=<10 digits>
//	    data: "host:port" (old servers) or a config string "k=v;k=v" (key order unspecified)
//
// How a client turns a node into a connection follows Hive's JDBC driver
// (jdbc/.../ZooKeeperHiveClientHelper.java, updateParamsWithZKServerNode and
// applyConfs): data without '=' is "host:port"; otherwise the host is
// hive.server2.thrift.bind.host, the port hive.server2.thrift.port (or
// hive.server2.thrift.http.port), and the published transport mode, HTTP
// path, SSL flag, SASL QOP and Kerberos principal fill the settings the user
// left unset. The node name itself is read only for its version and
// sequence, and as the fallback address (gohive v1 reads only the name).

// Default Hive namespaces (Hive's hive.server2.zookeeper.namespace and
// hive.server2.active.passive.ha.registry.namespace).
const (
	DefaultHiveNamespace   = "hiveserver2"
	DefaultHiveHANamespace = "hs2ActivePassiveHA"
)

// Keys of the configuration HiveServer2 publishes (HiveServer2.java,
// addConfsToPublish; HS2ActivePassiveHARegistry.java, getConfsToPublish).
const (
	HiveKeyBindHost      = "hive.server2.thrift.bind.host"
	HiveKeyPort          = "hive.server2.thrift.port"
	HiveKeyHTTPPort      = "hive.server2.thrift.http.port"
	HiveKeyTransportMode = "hive.server2.transport.mode"
	HiveKeyHTTPPath      = "hive.server2.thrift.http.path"
	HiveKeyUseSSL        = "hive.server2.use.SSL"
	HiveKeyAuth          = "hive.server2.authentication"
	HiveKeySASLQoP       = "hive.server2.thrift.sasl.qop"
	HiveKeyInstanceURI   = "hive.server2.instance.uri"
	HiveKeyPrincipal     = "hive.server2.authentication.kerberos.principal"
)

// HiveInstance is one HiveServer2-compatible Thrift server found in a Hive
// namespace (HiveServer2, Kyuubi, or a Registrar's leader-only record).
type HiveInstance struct {
	// HostPort is Host and Port joined (IPv6 literals bracketed): the
	// address to dial for TransportMode.
	HostPort string `json:"host_port"`
	// Host is where to connect: hive.server2.thrift.bind.host when it is
	// published and not a wildcard, else the host of the instance URI, the
	// ServiceRecord endpoint or the node name. IPv6 literals are bare.
	Host string `json:"host"`
	// Port is the port for TransportMode: the HTTP port in http mode, the
	// binary port otherwise ("all" mode serves both; see Addr).
	Port int `json:"port"`
	// BinaryPort and HTTPPort are hive.server2.thrift.port and
	// hive.server2.thrift.http.port as published (0 when not published).
	BinaryPort int `json:"binary_port,omitempty"`
	HTTPPort   int `json:"http_port,omitempty"`
	// TransportMode is "binary", "http", "all" (lower case), or "" when not
	// published (clients then use binary).
	TransportMode string `json:"transport_mode,omitempty"`
	// HTTPPath is hive.server2.thrift.http.path.
	HTTPPath string `json:"http_path,omitempty"`
	// UseSSL is hive.server2.use.SSL ("true", case-insensitive, as Java's
	// Boolean.parseBoolean).
	UseSSL bool `json:"use_ssl"`
	// Auth is hive.server2.authentication as published (NONE, NOSASL,
	// KERBEROS, LDAP, PAM, CUSTOM, ...).
	Auth string `json:"auth,omitempty"`
	// SASLQoP is hive.server2.thrift.sasl.qop (auth, auth-int, auth-conf).
	SASLQoP string `json:"sasl_qop,omitempty"`
	// Principal is hive.server2.authentication.kerberos.principal.
	Principal string `json:"principal,omitempty"`
	// Version is the version from the node name (zooKeeper mode).
	Version string `json:"version,omitempty"`
	// Sequence is the node's ZooKeeper sequence number (registration
	// order), -1 when its name carries none.
	Sequence int64 `json:"sequence"`
	// Active is true for the active server in zooKeeperHA mode (its
	// ServiceRecord has the internal endpoint "activeEndpoint").
	Active bool `json:"active,omitempty"`
	// Node is the znode's name.
	Node string `json:"node,omitempty"`
	// Settings holds every published key, as published.
	Settings map[string]string `json:"settings,omitempty"`
}

// Addr returns host:port for a transport: the published HTTP port for
// "http", the published binary port for "binary", and Port when that port
// is not published or transport is anything else. It lets a client that
// chose a transport itself connect to a server in "all" mode.
func (h HiveInstance) Addr(transport string) string {
	p := h.Port
	switch strings.ToLower(transport) {
	case "http":
		if h.HTTPPort > 0 {
			p = h.HTTPPort
		}
	case "binary":
		if h.BinaryPort > 0 {
			p = h.BinaryPort
		}
	}
	return net.JoinHostPort(h.Host, strconv.Itoa(p))
}

// ParseHiveNode parses a zooKeeper-mode Hive registration: the node name
// "serverUri=<host>:<port>;version=<v>;sequence=<n>" (an IPv6 host may be
// bracketed or bare) and its data, "host:port" or a "k=v;k=v" config string.
// Empty data leaves the name's address. Errors wrap ErrBadRecord.
func ParseHiveNode(name string, data []byte) (HiveInstance, error) {
	nn, err := ParseServerNodeName(name)
	if err != nil {
		return HiveInstance{}, err
	}
	host, port, err := ParseHiveAddr(nn.HostPort)
	if err != nil {
		return HiveInstance{}, fmt.Errorf("%w: node %q: %v", ErrBadRecord, truncate(name, 64), err)
	}
	inst := HiveInstance{Version: nn.Version, Sequence: nn.Sequence, Node: name}
	kv := map[string]string{}
	s := strings.TrimSpace(string(data))
	switch {
	case s == "":
	case !strings.Contains(s, "="):
		// An older HiveServer2 publishes only "host:port".
		if host, port, err = ParseHiveAddr(s); err != nil {
			return HiveInstance{}, fmt.Errorf("%w: node %q: data %q: %v", ErrBadRecord, truncate(name, 64), truncate(s, 64), err)
		}
	default:
		if kv, err = ParseConfigString(s); err != nil {
			return HiveInstance{}, fmt.Errorf("%w: node %q: %v", ErrBadRecord, truncate(name, 64), err)
		}
	}
	if err := applyHiveSettings(&inst, kv, host, port); err != nil {
		return HiveInstance{}, fmt.Errorf("%w: node %q: %v", ErrBadRecord, truncate(name, 64), err)
	}
	return inst, nil
}

// applyHiveSettings sets inst's typed fields from published settings kv,
// with host and port (from the node name, old-style data or a ServiceRecord
// endpoint) as the last fallback.
func applyHiveSettings(inst *HiveInstance, kv map[string]string, host string, port int) error {
	inst.Settings = kv
	get := func(k string) string { return strings.TrimSpace(kv[k]) }
	mode := strings.ToLower(get(HiveKeyTransportMode))
	switch mode {
	case "", "binary", "http", "all":
	default:
		return fmt.Errorf("%s %q (want binary, http or all)", HiveKeyTransportMode, truncate(mode, 32))
	}
	inst.TransportMode = mode
	var err error
	if v := get(HiveKeyPort); v != "" {
		if inst.BinaryPort, err = parsePort(v); err != nil {
			return fmt.Errorf("%s: %v", HiveKeyPort, err)
		}
	}
	if v := get(HiveKeyHTTPPort); v != "" {
		if inst.HTTPPort, err = parsePort(v); err != nil {
			return fmt.Errorf("%s: %v", HiveKeyHTTPPort, err)
		}
	}
	// The instance URI is informational; a malformed one is only not used.
	uriHost, uriPort := "", 0
	if v := get(HiveKeyInstanceURI); v != "" {
		if h, p, err := ParseHiveAddr(v); err == nil {
			uriHost, uriPort = h, p
		}
	}
	inst.Host = host
	if uriHost != "" {
		inst.Host = uriHost
	}
	if b := Unbracket(get(HiveKeyBindHost)); b != "" && !isWildcard(b) {
		inst.Host = b
	}
	if err := checkHiveHost(inst.Host); err != nil {
		return err
	}
	if isWildcard(inst.Host) {
		return fmt.Errorf("host %s is a wildcard address", inst.Host)
	}
	first, second := inst.BinaryPort, inst.HTTPPort
	if mode == "http" {
		first, second = second, first
	}
	switch {
	case first > 0:
		inst.Port = first
	case second > 0:
		inst.Port = second
	case uriPort > 0:
		inst.Port = uriPort
	default:
		inst.Port = port
	}
	if inst.Port <= 0 {
		return errors.New("no port")
	}
	inst.HostPort = net.JoinHostPort(inst.Host, strconv.Itoa(inst.Port))
	inst.HTTPPath = get(HiveKeyHTTPPath)
	inst.UseSSL = strings.EqualFold(get(HiveKeyUseSSL), "true")
	inst.Auth = get(HiveKeyAuth)
	inst.SASLQoP = get(HiveKeySASLQoP)
	inst.Principal = get(HiveKeyPrincipal)
	return nil
}

// ParseHiveAddr parses "host:port", "[v6]:port" or "v6:port" with a
// numeric port.
func ParseHiveAddr(s string) (string, int, error) {
	h, p, err := splitHostPortLoose(s)
	if err != nil {
		return "", 0, err
	}
	port, err := parsePort(p)
	if err != nil {
		return "", 0, err
	}
	if err := checkHiveHost(h); err != nil {
		return "", 0, err
	}
	return h, port, nil
}

func parsePort(s string) (int, error) {
	if s == "" || len(s) > 5 {
		return 0, fmt.Errorf("bad port %q", truncate(s, 16))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("bad port %q", truncate(s, 16))
		}
	}
	n, _ := strconv.Atoi(s)
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %d out of range", n)
	}
	return n, nil
}

func Unbracket(h string) string {
	if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}

func isWildcard(h string) bool {
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsUnspecified()
}

// checkHiveHost accepts a host name or a bare IP literal.
func checkHiveHost(h string) error {
	if h == "" {
		return errors.New("empty host")
	}
	if len(h) > 255 {
		return fmt.Errorf("host %q too long", truncate(h, 32))
	}
	if !utf8.ValidString(h) {
		return fmt.Errorf("host %q is not UTF-8", truncate(h, 64))
	}
	for _, r := range h {
		if r <= ' ' || r == 0x7f || strings.ContainsRune("/;,=[]\"'\\", r) {
			return fmt.Errorf("host %q: invalid character", truncate(h, 64))
		}
	}
	if strings.ContainsAny(h, ":%") {
		if _, err := netip.ParseAddr(h); err != nil {
			return fmt.Errorf("host %q: not an IP address", truncate(h, 64))
		}
	}
	return nil
}

// HiveNodePrefix returns the name, without the sequence digits ZooKeeper
// appends, of a zooKeeper-mode Hive registration:
// "serverUri=<host>:<port>;version=<v>;sequence=" (IPv6 hosts bracketed).
func HiveNodePrefix(host string, port int, version string) (string, error) {
	host = Unbracket(host)
	if err := checkHiveHost(host); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	if port < 1 || port > 65535 {
		return "", fmt.Errorf("%w: port %d out of range", ErrBadRecord, port)
	}
	return serverNodePrefix(net.JoinHostPort(host, strconv.Itoa(port)), version)
}

// HiveRecordData returns the data of a zooKeeper-mode Hive registration: a
// config string "k=v;k=v" as HiveServer2 publishes it, from inst's typed
// fields (which win) and its other Settings. It is what ParseHiveNode reads
// back. Errors wrap ErrBadRecord.
func HiveRecordData(inst HiveInstance) ([]byte, error) {
	kv, err := hivePublished(inst, true)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for i, p := range kv {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(p[0])
		b.WriteByte('=')
		b.WriteString(p[1])
	}
	return []byte(b.String()), nil
}

// hiveTypedKeys are written from HiveInstance's typed fields.
var hiveTypedKeys = map[string]bool{
	HiveKeyBindHost: true, HiveKeyPort: true, HiveKeyHTTPPort: true, HiveKeyTransportMode: true,
	HiveKeyHTTPPath: true, HiveKeyUseSSL: true, HiveKeyAuth: true, HiveKeySASLQoP: true,
	HiveKeyInstanceURI: true, HiveKeyPrincipal: true,
}

// hivePublished validates inst and returns the key/value pairs to publish:
// typed keys first in a fixed order, then the other Settings sorted. With
// configString, keys and values must survive the "k=v;k=v" format.
func hivePublished(inst HiveInstance, configString bool) ([][2]string, error) {
	bad := func(format string, args ...any) ([][2]string, error) {
		return nil, fmt.Errorf("%w: hive record: %s", ErrBadRecord, fmt.Sprintf(format, args...))
	}
	host := Unbracket(inst.Host)
	if err := checkHiveHost(host); err != nil {
		return bad("%v", err)
	}
	if isWildcard(host) {
		return bad("host %q is a wildcard address", host)
	}
	if inst.Port < 1 || inst.Port > 65535 || inst.BinaryPort < 0 || inst.BinaryPort > 65535 ||
		inst.HTTPPort < 0 || inst.HTTPPort > 65535 {
		return bad("port out of range")
	}
	mode := inst.TransportMode
	switch mode {
	case "", "binary", "http", "all":
	default:
		return bad("transport mode %q (want binary, http or all)", mode)
	}
	bin, http := inst.BinaryPort, inst.HTTPPort
	if mode == "http" {
		if http == 0 {
			http = inst.Port
		}
		if http != inst.Port {
			return bad("port %d is not the published HTTP port %d", inst.Port, http)
		}
	} else {
		if bin == 0 {
			bin = inst.Port
		}
		if bin != inst.Port {
			return bad("port %d is not the published binary port %d", inst.Port, bin)
		}
	}
	hostport := net.JoinHostPort(host, strconv.Itoa(inst.Port))
	uri := strings.TrimSpace(inst.Settings[HiveKeyInstanceURI])
	if uri == "" {
		uri = hostport
	}
	var out [][2]string
	add := func(k, v string) { out = append(out, [2]string{k, v}) }
	add(HiveKeyBindHost, host)
	add(HiveKeyInstanceURI, uri)
	if mode != "" {
		add(HiveKeyTransportMode, mode)
	}
	if bin > 0 {
		add(HiveKeyPort, strconv.Itoa(bin))
	}
	if http > 0 {
		add(HiveKeyHTTPPort, strconv.Itoa(http))
	}
	for _, kv := range [][2]string{{HiveKeyHTTPPath, inst.HTTPPath}, {HiveKeyAuth, inst.Auth},
		{HiveKeySASLQoP, inst.SASLQoP}, {HiveKeyPrincipal, inst.Principal}} {
		if kv[1] != "" {
			add(kv[0], kv[1])
		}
	}
	add(HiveKeyUseSSL, strconv.FormatBool(inst.UseSSL))
	keys := make([]string, 0, len(inst.Settings))
	for k := range inst.Settings {
		if !hiveTypedKeys[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(k, inst.Settings[k])
	}
	// Typed values are read back trimmed; a value that changes when
	// trimmed would not round-trip.
	for i, kv := range out {
		if typed := i < len(out)-len(keys); typed && strings.TrimSpace(kv[1]) != kv[1] {
			return bad("%s has leading or trailing space", kv[0])
		}
		if !configString {
			continue
		}
		if kv[0] == "" || strings.TrimSpace(kv[0]) != kv[0] || strings.ContainsAny(kv[0], ";=") {
			return bad("key %q cannot be written as k=v;k=v", truncate(kv[0], 64))
		}
		if strings.TrimSpace(kv[1]) != kv[1] || strings.ContainsRune(kv[1], ';') {
			return bad("value of %s cannot be written as k=v;k=v", truncate(kv[0], 64))
		}
	}
	return out, nil
}
