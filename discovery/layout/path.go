package layout

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadPath is wrapped by every error about a malformed ZooKeeper path
// (root, chroot or namespace).
var ErrBadPath = errors.New("discovery: bad ZooKeeper path")

// CleanPath validates a ZooKeeper path and returns it without a trailing
// slash ("/" stays "/"). Empty segments, "." and ".." are rejected, as
// ZooKeeper itself rejects them.
func CleanPath(p string) (string, error) {
	if p == "" || p[0] != '/' {
		return "", fmt.Errorf("%w: %q must start with '/'", ErrBadPath, p)
	}
	if p == "/" {
		return p, nil
	}
	p = strings.TrimSuffix(p, "/")
	for _, seg := range strings.Split(p[1:], "/") {
		switch seg {
		case "":
			return "", fmt.Errorf("%w: %q has an empty segment", ErrBadPath, p)
		case ".", "..":
			return "", fmt.Errorf("%w: %q has a relative segment", ErrBadPath, p)
		}
		for _, r := range seg {
			if r == 0 || r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == 0xfffe || r == 0xffff ||
				(r >= 0xd800 && r <= 0xf8ff) || (r >= 0xfff0 && r <= 0xfff8) {
				return "", fmt.Errorf("%w: %q has a character ZooKeeper forbids", ErrBadPath, p)
			}
		}
	}
	return p, nil
}

// JoinPath joins a cleaned base path and child segments.
func JoinPath(base string, parts ...string) string {
	var b strings.Builder
	if base != "/" {
		b.WriteString(base)
	}
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(p)
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}
