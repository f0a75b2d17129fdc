package discovery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"
)

// ErrZKTLS is wrapped by the error of a failed TLS handshake with a
// ZooKeeper server (WithZKTLS): an untrusted or mismatched certificate, or
// a server that does not speak TLS on that port.
var ErrZKTLS = errors.New("discovery: ZooKeeper TLS handshake failed")

// ZKTLSError is a failed TLS handshake with one ZooKeeper server. It wraps
// ErrZKTLS and the handshake's error (e.g. a
// *tls.CertificateVerificationError).
type ZKTLSError struct {
	Server string // host:port dialled
	Err    error
}

func (e *ZKTLSError) Error() string {
	msg := fmt.Sprintf("discovery: TLS handshake with ZooKeeper %s failed: %v", e.Server, e.Err)
	var (
		ua x509.UnknownAuthorityError
		hn x509.HostnameError
		rh tls.RecordHeaderError
	)
	switch {
	case errors.As(e.Err, &ua):
		msg += " (server certificate not trusted: give the ZooKeeper servers' CA with WithZKTLS's RootCAs / --zk-ca-file)"
	case errors.As(e.Err, &hn):
		msg += " (the certificate is not for this host: connect by a name or IP address it lists, or set ServerName)"
	case errors.As(e.Err, &rh):
		msg += " (the server does not speak TLS on this port: use ZooKeeper's secureClientPort)"
	case errors.Is(e.Err, io.EOF), errors.Is(e.Err, syscall.ECONNRESET):
		msg += " (the server hung up during the handshake: is this ZooKeeper's secureClientPort?)"
	}
	return msg
}

// Unwrap returns ErrZKTLS and the handshake's error.
func (e *ZKTLSError) Unwrap() []error { return []error{ErrZKTLS, e.Err} }

// WithZKTLS makes the Resolver or Registrar talk to ZooKeeper over TLS:
// the connect string must name the servers' secure client ports
// (ZooKeeper's secureClientPort, served by its Netty connection factory).
// Every connection verifies the server's certificate with cfg (nil: the
// system roots; set RootCAs for a private CA, Certificates for client
// authentication). When cfg has no ServerName, the host of the
// connect-string entry being dialled is used, per connection, so each
// server of an ensemble is checked against its own name (an IP address is
// matched against the certificate's IP SANs). cfg is cloned; later changes
// to it have no effect.
//
// It sets the dialer, as WithDialer does: of the two, the one given last
// applies. A handshake failure (an untrusted certificate, say) makes the
// connection attempt fail with a *ZKTLSError, and the error a Resolver's
// Wait or Register returns at its deadline names it.
func WithZKTLS(cfg *tls.Config) Option {
	var base *tls.Config
	if cfg != nil {
		base = cfg.Clone()
	} else {
		base = &tls.Config{}
	}
	return WithDialer(tlsDialer(base))
}

// tlsDialer dials TCP, then does the TLS handshake within the same
// context (go-zookeeper's connect timeout bounds both).
func tlsDialer(base *tls.Config) Dialer {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		var nd net.Dialer
		raw, err := nd.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		cfg := base
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				host = address
			}
			cfg = base.Clone()
			cfg.ServerName = host
		}
		conn := tls.Client(raw, cfg)
		if err := conn.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, &ZKTLSError{Server: address, Err: err}
		}
		return conn, nil
	}
}

// dialErrors remembers the last failed dial of a session (cleared by a
// successful one), so that an error at a deadline can say why nothing
// connected — an untrusted certificate, say — instead of only that time
// ran out.
type dialErrors struct{ last atomic.Pointer[error] }

// wrap returns d (nil: plain TCP) recording its failures.
func (r *dialErrors) wrap(d Dialer) Dialer {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		var c net.Conn
		var err error
		if d != nil {
			c, err = d(ctx, network, address)
		} else {
			var nd net.Dialer
			c, err = nd.DialContext(ctx, network, address)
		}
		if err != nil {
			r.last.Store(&err)
			return nil, err
		}
		r.last.Store(nil)
		return c, nil
	}
}

// err returns the last dial failure, or nil.
func (r *dialErrors) err() error {
	if p := r.last.Load(); p != nil {
		return *p
	}
	return nil
}

// withDialError appends the session's last dial failure to a deadline
// error, if there is one.
func withDialError(err error, sess *zkSession) error {
	if sess == nil {
		return err
	}
	if de := sess.dials.err(); de != nil {
		return fmt.Errorf("%w (last connection error: %v)", err, de)
	}
	return err
}

// session gives Resolver.Wait the source's session, for withDialError.
func (s *zkSource) session() *zkSession { return s.sess }
