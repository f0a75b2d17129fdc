package cli

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/livyha/livyha/discovery"
)

// The TLS flags' environment variables.
const (
	EnvCAFile   = "LIVY_CA_FILE"    // --ca-file
	EnvZKTLS    = "LIVY_ZK_TLS"     // --zk-tls (true/false, 1/0)
	EnvZKCAFile = "LIVY_ZK_CA_FILE" // --zk-ca-file
	EnvTLSCert  = "LIVY_TLS_CERT"   // --tls-cert (servers)
	EnvTLSKey   = "LIVY_TLS_KEY"    // --tls-key (servers)
)

// TLSFlags are the client-side TLS flags (flags over environment):
//
//	--ca-file PATH     (env LIVY_CA_FILE) PEM CA bundle for the Livy servers'
//	                   https certificates, instead of the system roots
//	--zk-tls           (env LIVY_ZK_TLS) talk to ZooKeeper over TLS (its
//	                   secureClientPort), verified with the system roots
//	--zk-ca-file PATH  (env LIVY_ZK_CA_FILE) PEM CA bundle for the ZooKeeper
//	                   servers' certificates; implies --zk-tls
//
// A CA file that cannot be read or holds no certificate is a usage error
// naming the file.
type TLSFlags struct {
	caFile   *string // nil when the command has no REST side
	zkTLS    *bool
	zkCAFile *string
	given    map[string]bool
	fs       *flag.FlagSet
}

// NewTLSFlags defines --zk-tls and --zk-ca-file on fs and, with rest,
// --ca-file.
func NewTLSFlags(fs *flag.FlagSet, rest bool) *TLSFlags {
	f := &TLSFlags{fs: fs}
	if rest {
		f.caFile = fs.String("ca-file", "", "PEM CA bundle `PATH` for the Livy servers' https certificates (env "+EnvCAFile+")")
	}
	f.zkTLS = fs.Bool("zk-tls", false, "talk to ZooKeeper over TLS (its secureClientPort; env "+EnvZKTLS+")")
	f.zkCAFile = fs.String("zk-ca-file", "", "PEM CA bundle `PATH` for ZooKeeper's certificates; implies --zk-tls (env "+EnvZKCAFile+")")
	return f
}

// TLSUsage is the flags' lines for a usage text; rest as in NewTLSFlags.
func TLSUsage(rest bool) string {
	s := ""
	if rest {
		s += "  --ca-file PATH       PEM CA bundle for the Livy servers' https certificates, instead of\n" +
			"                       the system roots (env " + EnvCAFile + ")\n"
	}
	return s + "  --zk-tls             talk to ZooKeeper over TLS: the connect string names its secureClientPorts\n" +
		"                       (env " + EnvZKTLS + "=true)\n" +
		"  --zk-ca-file PATH    PEM CA bundle for ZooKeeper's certificates; implies --zk-tls (env " + EnvZKCAFile + ")\n"
}

func (f *TLSFlags) isGiven(name string) bool {
	if f.given == nil {
		f.given = make(map[string]bool)
		f.fs.Visit(func(fl *flag.Flag) { f.given[fl.Name] = true })
	}
	return f.given[name]
}

// value returns the flag's value, else the variable's, and where it came
// from ("--flag" or "$VAR"); "" when neither is set.
func value(flagVal *string, flagName, env string, getenv func(string) string) (string, string) {
	if flagVal != nil {
		if v := strings.TrimSpace(*flagVal); v != "" {
			return v, "--" + flagName
		}
	}
	if getenv != nil {
		if v := strings.TrimSpace(getenv(env)); v != "" {
			return v, "$" + env
		}
	}
	return "", ""
}

// CAPool reads a PEM CA bundle; from names its source in errors (a flag or
// a variable). Errors are usage errors naming the file.
func CAPool(path, from string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Usagef("bad %s: cannot read CA file: %s", from, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, Usagef("bad %s: CA file %s holds no PEM certificate (want BEGIN CERTIFICATE blocks)", from, path)
	}
	return pool, nil
}

// CAFile returns --ca-file (else $LIVY_CA_FILE), or "".
func (f *TLSFlags) CAFile(getenv func(string) string) string {
	v, _ := value(f.caFile, "ca-file", EnvCAFile, getenv)
	return v
}

// RESTConfig returns the TLS configuration for the Livy servers: nil when
// no CA file is given (the system roots apply).
func (f *TLSFlags) RESTConfig(getenv func(string) string) (*tls.Config, error) {
	path, from := value(f.caFile, "ca-file", EnvCAFile, getenv)
	if path == "" {
		return nil, nil
	}
	pool, err := CAPool(path, from)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// HTTPClient returns a client for probing Livy servers (redirects are the
// caller's business) that trusts the CA file, with keep-alives off and the
// given timeout; nil when no CA file is given.
func (f *TLSFlags) HTTPClient(getenv func(string) string, timeout time.Duration) (*http.Client, error) {
	tc, err := f.RESTConfig(getenv)
	if err != nil || tc == nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.DisableKeepAlives = true
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// ZKTLS returns the TLS configuration for ZooKeeper, or nil when neither
// --zk-tls nor --zk-ca-file (nor their variables) asks for TLS.
func (f *TLSFlags) ZKTLS(getenv func(string) string) (*tls.Config, error) {
	on := *f.zkTLS
	if !f.isGiven("zk-tls") && getenv != nil {
		if v := strings.TrimSpace(getenv(EnvZKTLS)); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, Usagef("bad $%s %q (want true or false)", EnvZKTLS, v)
			}
			on = b
		}
	}
	path, from := value(f.zkCAFile, "zk-ca-file", EnvZKCAFile, getenv)
	if !on && path == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if path != "" {
		pool, err := CAPool(path, from)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// ZKOptions returns the discovery options for ZooKeeper over TLS (none
// without it).
func (f *TLSFlags) ZKOptions(getenv func(string) string) ([]discovery.Option, error) {
	tc, err := f.ZKTLS(getenv)
	if err != nil || tc == nil {
		return nil, err
	}
	return []discovery.Option{discovery.WithZKTLS(tc)}, nil
}

// ServerTLSFlags are a server's --tls-cert and --tls-key (env
// LIVY_TLS_CERT, LIVY_TLS_KEY): PEM files of its certificate chain and
// private key, to serve https.
type ServerTLSFlags struct {
	cert, key *string
}

// ServerTLSUsage is the flags' lines for a usage text.
const ServerTLSUsage = "  --tls-cert PATH      serve https with this PEM certificate chain (env " + EnvTLSCert + "; with --tls-key)\n" +
	"  --tls-key PATH       the certificate's PEM private key (env " + EnvTLSKey + ")\n"

// NewServerTLSFlags defines --tls-cert and --tls-key on fs.
func NewServerTLSFlags(fs *flag.FlagSet) *ServerTLSFlags {
	return &ServerTLSFlags{
		cert: fs.String("tls-cert", "", "serve https with this PEM certificate chain `PATH` (env "+EnvTLSCert+"; with --tls-key)"),
		key:  fs.String("tls-key", "", "the certificate's PEM private key `PATH` (env "+EnvTLSKey+")"),
	}
}

// Files returns the certificate and key paths ("" and "" for plain http),
// checked: both or neither, and a loadable key pair. Errors are usage
// errors naming the files (never the key's content).
func (f *ServerTLSFlags) Files(getenv func(string) string) (cert, key string, err error) {
	cert, cfrom := value(f.cert, "tls-cert", EnvTLSCert, getenv)
	key, kfrom := value(f.key, "tls-key", EnvTLSKey, getenv)
	switch {
	case cert == "" && key == "":
		return "", "", nil
	case cert == "":
		return "", "", Usagef("%s needs --tls-cert", kfrom)
	case key == "":
		return "", "", Usagef("%s needs --tls-key", cfrom)
	}
	if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
		return "", "", Usagef("bad %s/%s: %s and %s: %s", cfrom, kfrom, cert, key, err)
	}
	return cert, key, nil
}

// ResolverOptions returns the discovery options a reader's connection
// flags give: --zk-auth, ZooKeeper over TLS, and --ca-file's trust for
// probing a static list over https (probes time out after 2s).
func ResolverOptions(auth *ZKAuthFlag, f *TLSFlags, getenv func(string) string) ([]discovery.ResolverOption, error) {
	zkOpts, err := auth.Options(getenv)
	if err != nil {
		return nil, err
	}
	tlsOpts, err := f.ZKOptions(getenv)
	if err != nil {
		return nil, err
	}
	opts := make([]discovery.ResolverOption, 0, len(zkOpts)+len(tlsOpts)+1)
	for _, z := range append(zkOpts, tlsOpts...) {
		opts = append(opts, z)
	}
	hc, err := f.HTTPClient(getenv, 2*time.Second)
	if err != nil {
		return nil, err
	}
	if hc != nil {
		opts = append(opts, discovery.WithHTTPClient(hc))
	}
	return opts, nil
}
