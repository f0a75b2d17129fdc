package cli

import (
	"flag"
	"strings"

	"github.com/livyha/livyha/discovery"
)

// EnvZKAuth is --zk-auth's environment variable.
const EnvZKAuth = "LIVY_ZK_AUTH"

// ZKAuthFlag is --zk-auth SCHEME:AUTH (env LIVY_ZK_AUTH): ZooKeeper
// credentials, e.g. digest:user:password, sent on every (re)connection.
// Its value is never printed.
type ZKAuthFlag struct {
	fs *flag.FlagSet
	v  *string
}

// ZKAuthUsage is the flag's line for a usage text.
const ZKAuthUsage = "  --zk-auth SCHEME:AUTH  ZooKeeper credentials, e.g. digest:user:password (env " + EnvZKAuth + "; never printed)\n"

// NewZKAuthFlag defines --zk-auth on fs.
func NewZKAuthFlag(fs *flag.FlagSet) *ZKAuthFlag {
	return &ZKAuthFlag{fs: fs, v: fs.String("zk-auth", "", "ZooKeeper credentials `SCHEME:AUTH` (env "+EnvZKAuth+")")}
}

// Value returns the credentials, scheme and auth ("digest" and
// "user:password"); ok is false when neither the flag nor the variable is
// set. A malformed value is a usage error that does not repeat it.
func (f *ZKAuthFlag) Value(getenv func(string) string) (scheme string, auth []byte, ok bool, err error) {
	v, from := strings.TrimSpace(*f.v), "--zk-auth"
	if v == "" && getenv != nil {
		v, from = strings.TrimSpace(getenv(EnvZKAuth)), "$"+EnvZKAuth
	}
	if v == "" {
		return "", nil, false, nil
	}
	scheme, a, found := strings.Cut(v, ":")
	if !found || scheme == "" || a == "" || strings.ContainsAny(scheme, " \t") {
		return "", nil, false, Usagef("bad %s (want SCHEME:AUTH, e.g. digest:user:password; the value is not shown)", from)
	}
	if scheme == "digest" && !strings.Contains(a, ":") {
		return "", nil, false, Usagef("bad %s: digest credentials are digest:user:password (the value is not shown)", from)
	}
	return scheme, []byte(a), true, nil
}

// Options returns the discovery options the credentials give (none when
// neither the flag nor the variable is set).
func (f *ZKAuthFlag) Options(getenv func(string) string) ([]discovery.Option, error) {
	scheme, auth, ok, err := f.Value(getenv)
	if err != nil || !ok {
		return nil, err
	}
	return []discovery.Option{discovery.WithZKAuth(scheme, auth)}, nil
}
