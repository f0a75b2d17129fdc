package discovery

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/livyha/livyha/discovery/layout"
)

// DefaultZKPort is the port assumed for a connect-string host without one.
const DefaultZKPort = 2181

// ErrBadConnectString is wrapped by every connect-string parsing error.
var ErrBadConnectString = errors.New("discovery: bad ZooKeeper connect string")

// ErrBadPath is wrapped by every error about a malformed ZooKeeper path
// (root, chroot or namespace).
var ErrBadPath = layout.ErrBadPath

// ConnectString is a parsed ZooKeeper connect string such as
// "zk1:2181,zk2:2181,[::1]:2181/apps/livy".
type ConnectString struct {
	// Servers holds "host:port" entries (IPv6 hosts bracketed), in the
	// order given. A host without a port gets DefaultZKPort.
	Servers []string
	// Chroot is the optional chroot suffix ("/apps/livy"), or "" for none.
	// go-zookeeper has no chroot support, so discovery prefixes every path
	// with it.
	Chroot string
}

// String formats the connect string back into ZooKeeper's syntax.
func (c ConnectString) String() string {
	return strings.Join(c.Servers, ",") + c.Chroot
}

// ParseConnectString parses a ZooKeeper connect string
// "host[:port][,host[:port]...][/chroot]".
func ParseConnectString(s string) (ConnectString, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return ConnectString{}, fmt.Errorf("%w: empty", ErrBadConnectString)
	}
	hosts, chroot := s, ""
	if i := strings.IndexByte(s, '/'); i >= 0 {
		hosts, chroot = s[:i], s[i:]
		var err error
		if chroot, err = layout.CleanPath(chroot); err != nil {
			return ConnectString{}, wrapOnce(ErrBadConnectString, "chroot", err)
		}
		if chroot == "/" {
			chroot = ""
		}
	}
	var cs ConnectString
	cs.Chroot = chroot
	for _, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			return ConnectString{}, fmt.Errorf("%w: empty host in %q", ErrBadConnectString, s)
		}
		hp, err := normalizeHostPort(h, DefaultZKPort)
		if err != nil {
			return ConnectString{}, fmt.Errorf("%w: %w", ErrBadConnectString, err)
		}
		cs.Servers = append(cs.Servers, hp)
	}
	return cs, nil
}

// normalizeHostPort accepts "host", "host:port", "[v6]" and "[v6]:port" and
// returns "host:port" with IPv6 literals bracketed.
func normalizeHostPort(h string, defPort int) (string, error) {
	host, port := h, ""
	switch {
	case strings.HasPrefix(h, "["):
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", fmt.Errorf("host %q: missing ']'", h)
		}
		host = h[1:end]
		rest := h[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return "", fmt.Errorf("host %q: junk after ']'", h)
			}
			port = rest[1:]
		}
	case strings.Count(h, ":") == 1:
		i := strings.IndexByte(h, ':')
		host, port = h[:i], h[i+1:]
	case strings.Count(h, ":") > 1:
		return "", fmt.Errorf("host %q: IPv6 addresses must be written as [addr]:port", h)
	}
	if host == "" {
		return "", fmt.Errorf("host %q: empty host name", h)
	}
	if strings.ContainsAny(host, " \t/;,=") {
		return "", fmt.Errorf("host %q: invalid character in host name", h)
	}
	p := defPort
	if port != "" || strings.HasSuffix(h, ":") {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("host %q: bad port %q", h, port)
		}
		p = n
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}
