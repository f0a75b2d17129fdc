package layout

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file is the one place that knows the PR #212 (LIVY-11, never merged)
// active/passive layout, both its writer and its parser:
//
//	/<livy.server.ha.key-prefix, default livy_ha>/leader/_c_<uuid>-latch-<10 digits>
//	    data: the participant id, a free-form string from livy.server.ha.server-ids
//
// Every PR #212 server joins a Curator LeaderLatch; nothing else is written.
// Which host an id is, and so where the active server is, comes only from
// livy.conf. Facts (apache/incubator-livy refs/pull/212/head cbdaaafa):
//   - Keys and defaults: livy.server.ha.mode "off" (HA is on only for the
//     exact string "on", LivyServer.scala:454-457,466), ha.zookeeper-url ""
//     (required non-empty, CuratorElectorService.scala:55-56),
//     ha.server-ids "", ha.server-hostnames "" (LivyConf.scala:207-216);
//     ha.key-prefix "livy_ha" and ha.retry-policy "5,100" are declared in
//     CuratorElectorService.scala:35-38, not in LivyConf.
//     (conf/livy.conf.template:119-120 documents a
//     livy.server.ha.server-addresses that no code reads.)
//   - The retry policy must match \s*(\d+)\s*,\s*(\d+)\s* (RetryNTimes(n,
//     sleepMs); CuratorElectorService.scala:58-66).
//   - The latch is LeaderLatch(client, s"/$haKeyPrefix/leader", getCurrentId())
//     (CuratorElectorService.scala:70-80): the prefix is used as is, so it
//     may hold '/', and ZooKeeper's connect string (with any chroot) goes
//     straight to CuratorFrameworkFactory.newClient.
//   - The id lists are configToSeq (split on runs of ',' and ' ';
//     CuratorElectorService.scala:75-76). A server's own id is
//     server-ids(server-hostnames indexOf InetAddress.getLocalHost
//     .getCanonicalHostName) — an exact, case-sensitive string match, the
//     first one winning (:92-99). The active host is
//     server-hostnames(server-ids indexOf leader.getId) (:101-105).
//   - Curator writes the id as id.getBytes("UTF-8") and reads it back with
//     new String(bytes, "UTF-8") (apache/curator LeaderSelector.java
//     getIdBytes and participantForPath, @88dee99a:169-175,403-412).
//   - A passive 307-redirects to the request URL with only the host replaced
//     (UriComponentsBuilder.host; DomainRedirectionFilter.scala:55-79): the
//     scheme and port of the passive are kept, so PR #212 assumes every
//     server has the same scheme and port. Here they come from this
//     livy.conf: livy.server.port (default 8998, LivyConf.scala:62) and https
//     when livy.keystore is set (WebServer.scala:37-75). The REST API is
//     mounted at the root; livy.ui.basePath only moves the UI
//     (LivyServer.scala:225-247), so a base URL has no path.
//   - Every server, passive or not, starts Jetty and the Thrift server
//     (CuratorElectorService.scala:107-111, LivyServer.scala:340-348); Thrift
//     is not redirected. Its port is livy.server.thrift.port (default 10090)
//     in both transports, HTTP when livy.server.thrift.transport.mode is
//     "http" in any case (LivyConf.scala:109,115-116,148,159;
//     LivyThriftServer.scala:100-103; ThriftCLIService.scala:67-80), bound to
//     all interfaces unless livy.server.thrift.bind.host is set
//     (ThriftBinaryCLIService.scala:62-66). The Thrift address is therefore
//     taken as the server's configured hostname (inferred).

// PR #212 livy.conf keys and defaults.
const (
	PR212KeyMode         = "livy.server.ha.mode"
	PR212KeyZooKeeperURL = "livy.server.ha.zookeeper-url"
	PR212KeyServerIDs    = "livy.server.ha.server-ids"
	PR212KeyHostnames    = "livy.server.ha.server-hostnames"
	PR212KeyKeyPrefix    = "livy.server.ha.key-prefix"
	PR212KeyRetryPolicy  = "livy.server.ha.retry-policy"

	PR212ModeOn             = "on"
	PR212DefaultKeyPrefix   = "livy_ha"
	PR212DefaultRetryPolicy = "5,100"
	PR212LeaderDir          = "leader"

	// MaxPR212IDLen bounds a participant id, in bytes.
	MaxPR212IDLen = 255
)

// PR212Config is the PR #212 layout as one livy.conf describes it.
type PR212Config struct {
	// KeyPrefix is livy.server.ha.key-prefix.
	KeyPrefix string `json:"key_prefix"`
	// LatchPath is "/<KeyPrefix>/leader", the Curator latch.
	LatchPath string `json:"latch_path"`
	// ZooKeeper is livy.server.ha.zookeeper-url, a ZooKeeper connect
	// string as Curator takes it.
	ZooKeeper string `json:"zookeeper"`
	// RetryCount and RetrySleepMs are livy.server.ha.retry-policy.
	RetryCount   int `json:"retry_count"`
	RetrySleepMs int `json:"retry_sleep_ms"`
	// IDs are livy.server.ha.server-ids in their configured order.
	IDs []string `json:"ids"`
	// Hosts maps each id to its livy.server.ha.server-hostnames entry
	// (same index).
	Hosts map[string]string `json:"hosts"`
	// Scheme is "https" when livy.keystore is set, else "http".
	Scheme string `json:"scheme"`
	// Port is livy.server.port.
	Port int `json:"port"`
	// Thrift is set when livy.server.thrift.enabled is true.
	Thrift *PR212Thrift `json:"thrift,omitempty"`
}

// PR212Thrift is the Thrift (JDBC) endpoint every PR #212 server runs.
type PR212Thrift struct {
	Port      int    `json:"port"`      // livy.server.thrift.port
	Transport string `json:"transport"` // "binary" or "http"
	HTTPPath  string `json:"http_path"` // livy.server.thrift.http.path
	UseSSL    bool   `json:"use_ssl"`   // livy.server.thrift.use.SSL
}

// PR212Server is one configured server.
type PR212Server struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname"`
	// URL is the REST base URL, scheme://host:port.
	URL string `json:"url"`
	// Thrift is host:port of the Thrift endpoint, "" when disabled.
	Thrift string `json:"thrift,omitempty"`
}

// PR212ConfigFrom derives the PR #212 layout from a livy.conf. HA must be
// on and the ZooKeeper URL and both id lists set; the lists must have the
// same length, with no empty or duplicate ids or hostnames (duplicates
// would make Livy's indexOf lookups pick the first). Errors wrap
// ErrBadLivyConf and name the key.
func PR212ConfigFrom(c LivyConf) (PR212Config, error) {
	var p PR212Config
	if mode := c.Get(PR212KeyMode, "off"); mode != PR212ModeOn {
		return p, confErr("%s = %q: PR #212 HA is on only for %q", PR212KeyMode, truncate(mode, 32), PR212ModeOn)
	}
	p.ZooKeeper = c.Get(PR212KeyZooKeeperURL, "")
	if p.ZooKeeper == "" {
		return p, confErr("%s is not set", PR212KeyZooKeeperURL)
	}
	p.KeyPrefix = c.Get(PR212KeyKeyPrefix, PR212DefaultKeyPrefix)
	latch, err := CleanPath("/" + p.KeyPrefix + "/" + PR212LeaderDir)
	if err != nil || latch != "/"+p.KeyPrefix+"/"+PR212LeaderDir {
		return p, confErr("%s = %q does not make a ZooKeeper path", PR212KeyKeyPrefix, truncate(p.KeyPrefix, 64))
	}
	p.LatchPath = latch
	retry := c.Get(PR212KeyRetryPolicy, PR212DefaultRetryPolicy)
	if p.RetryCount, p.RetrySleepMs, err = parseRetryPolicy(retry); err != nil {
		return p, confErr("%s = %q: want <max retry count>,<sleep ms>, e.g. 5,100", PR212KeyRetryPolicy, truncate(retry, 32))
	}
	ids, err := pr212List(c, PR212KeyServerIDs, ValidatePR212ID)
	if err != nil {
		return p, err
	}
	hosts, err := pr212List(c, PR212KeyHostnames, checkPR212Host)
	if err != nil {
		return p, err
	}
	if len(ids) != len(hosts) {
		return p, confErr("%s has %d entries but %s has %d", PR212KeyServerIDs, len(ids), PR212KeyHostnames, len(hosts))
	}
	p.IDs = ids
	p.Hosts = make(map[string]string, len(ids))
	for i, id := range ids {
		p.Hosts[id] = hosts[i]
	}
	p.Scheme = "http"
	if _, ok := c[LivyKeyKeystore]; ok {
		p.Scheme = "https"
	}
	if p.Port, err = confPort(c, LivyKeyServerPort, LivyDefaultPort); err != nil {
		return p, err
	}
	if c.Bool(LivyKeyThriftEnabled, false) {
		t := &PR212Thrift{Transport: "binary", UseSSL: c.Bool(LivyKeyThriftUseSSL, false)}
		if strings.EqualFold(c.Get(LivyKeyThriftTransport, "binary"), "http") {
			t.Transport = "http"
		}
		if t.Port, err = confPort(c, LivyKeyThriftPort, LivyDefaultThriftPort); err != nil {
			return p, err
		}
		t.HTTPPath = c.Get(LivyKeyThriftHTTPPath, LivyDefaultThriftHTTPPath)
		p.Thrift = t
	}
	return p, nil
}

// pr212List reads a configToSeq list and checks its entries.
func pr212List(c LivyConf, key string, check func(string) error) ([]string, error) {
	list := c.Seq(key)
	if len(list) == 0 || (len(list) == 1 && list[0] == "") {
		return nil, confErr("%s is not set", key)
	}
	seen := make(map[string]int, len(list))
	for i, v := range list {
		if v == "" {
			return nil, confErr("%s: entry %d is empty", key, i+1)
		}
		if err := check(v); err != nil {
			return nil, confErr("%s: entry %d: %v", key, i+1, err)
		}
		if j, dup := seen[v]; dup {
			return nil, confErr("%s: entries %d and %d are both %q", key, j+1, i+1, truncate(v, 64))
		}
		seen[v] = i
	}
	return list, nil
}

func checkPR212Host(h string) error {
	if err := checkURLHost(h); err != nil {
		return err
	}
	if isWildcard(h) {
		return fmt.Errorf("host %s is a wildcard address", h)
	}
	return nil
}

// checkURLHost accepts a host name or bare IP literal that a base URL
// scheme://host:port carries unchanged (so not "#", "?" or a zoned IPv6).
func checkURLHost(h string) error {
	if err := checkHiveHost(h); err != nil {
		return err
	}
	if host, _, err := URLHostPort("http://" + net.JoinHostPort(h, "1")); err != nil || host != h {
		return fmt.Errorf("host %q cannot be written in a URL", truncate(h, 64))
	}
	return nil
}

// confPort reads a port key with Integer.parseInt semantics and checks
// that it is 1..65535.
func confPort(c LivyConf, key string, dflt int) (int, error) {
	n, err := c.Int(key, dflt)
	if err != nil {
		return 0, err
	}
	if n < 1 || n > 65535 {
		return 0, confErr("%s = %d is not a port 1..65535", key, n)
	}
	return n, nil
}

// parseRetryPolicy matches Livy's regex \s*(\d+)\s*,\s*(\d+)\s* (Java's \s
// is [ \t\n\x0B\f\r]) and converts both numbers with toInt (32 bits).
func parseRetryPolicy(s string) (int, int, error) {
	isSpace := func(r rune) bool { return strings.ContainsRune(" \t\n\x0b\f\r", r) }
	n, sleep, ok := strings.Cut(s, ",")
	if !ok {
		return 0, 0, fmt.Errorf("no comma")
	}
	a, err := strconv.ParseInt(strings.TrimFunc(n, isSpace), 10, 32)
	if err != nil || !allDigits(strings.TrimFunc(n, isSpace)) {
		return 0, 0, fmt.Errorf("bad count")
	}
	b, err := strconv.ParseInt(strings.TrimFunc(sleep, isSpace), 10, 32)
	if err != nil || !allDigits(strings.TrimFunc(sleep, isSpace)) {
		return 0, 0, fmt.Errorf("bad sleep")
	}
	return int(a), int(b), nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ValidatePR212ID reports whether id can be a PR #212 participant id: 1 to
// MaxPR212IDLen bytes of printable UTF-8 with no space or comma (configToSeq
// could not produce one). Errors wrap ErrBadRecord.
func ValidatePR212ID(id string) error {
	if id == "" || len(id) > MaxPR212IDLen {
		return fmt.Errorf("%w: participant id %q: want 1 to %d bytes", ErrBadRecord, truncate(id, 32), MaxPR212IDLen)
	}
	if !utf8.ValidString(id) {
		return fmt.Errorf("%w: participant id %q is not UTF-8", ErrBadRecord, truncate(id, 32))
	}
	for _, r := range id {
		if r == ' ' || r == ',' || !unicode.IsPrint(r) {
			return fmt.Errorf("%w: participant id %q has a space, comma or unprintable character", ErrBadRecord, truncate(id, 32))
		}
	}
	return nil
}

// PR212ParticipantData is the latch data a PR #212 participant writes: its
// id in UTF-8 (Curator's LeaderSelector.getIdBytes). It does not validate;
// see ValidatePR212ID.
func PR212ParticipantData(id string) []byte { return []byte(id) }

// ParsePR212Participant parses a PR #212 latch node's data into the
// participant id. Errors wrap ErrBadRecord.
func ParsePR212Participant(data []byte) (string, error) {
	id := string(data)
	if err := ValidatePR212ID(id); err != nil {
		return "", err
	}
	return id, nil
}

// Hostname returns the configured hostname of id.
func (p PR212Config) Hostname(id string) (string, bool) {
	h, ok := p.Hosts[id]
	return h, ok
}

// BaseURL returns the REST base URL of server id, scheme://host:port (IPv6
// literals bracketed). Unknown ids are an error wrapping ErrBadRecord.
func (p PR212Config) BaseURL(id string) (string, error) {
	h, ok := p.Hosts[id]
	if !ok {
		return "", fmt.Errorf("%w: participant id %q is not in %s", ErrBadRecord, truncate(id, 64), PR212KeyServerIDs)
	}
	return p.Scheme + "://" + net.JoinHostPort(h, strconv.Itoa(p.Port)), nil
}

// Servers returns every configured server in the order of
// livy.server.ha.server-ids.
func (p PR212Config) Servers() []PR212Server {
	out := make([]PR212Server, 0, len(p.IDs))
	for _, id := range p.IDs {
		h := p.Hosts[id]
		s := PR212Server{ID: id, Hostname: h, URL: p.Scheme + "://" + net.JoinHostPort(h, strconv.Itoa(p.Port))}
		if p.Thrift != nil {
			s.Thrift = net.JoinHostPort(h, strconv.Itoa(p.Thrift.Port))
		}
		out = append(out, s)
	}
	return out
}
