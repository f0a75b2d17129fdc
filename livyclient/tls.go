package livyclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
)

// ErrUntrustedCertificate is matched by the error of a request whose
// server presented a certificate no trusted CA signed (for a private CA:
// see WithCAFile). Nothing was sent; it is not retried. The error is a
// *CertificateError.
var ErrUntrustedCertificate = errors.New("livyclient: server certificate not trusted")

// CertificateError is a TLS handshake that failed because the server's
// certificate is signed by an unknown authority.
type CertificateError struct {
	Err error // the handshake's error (a *tls.CertificateVerificationError)
}

func (e *CertificateError) Error() string {
	return "server certificate not trusted: give the cluster's CA with WithCAFile / --ca-file (" + e.Err.Error() + ")"
}

// Unwrap returns ErrUntrustedCertificate and the handshake's error.
func (e *CertificateError) Unwrap() []error { return []error{ErrUntrustedCertificate, e.Err} }

// tlsOptions are WithTLSConfig's and WithCAFile's settings.
type tlsOptions struct {
	config *tls.Config
	cas    [][]byte // PEM of every WithCAFile, each with a certificate
}

func (t *tlsOptions) set() bool { return t.config != nil || len(t.cas) > 0 }

// WithTLSConfig sets the TLS configuration of the connections to the Livy
// servers (https URLs): RootCAs for a private CA, Certificates for client
// certificates, MinVersion, … It is cloned; ServerName is best left empty,
// so that each server's certificate is checked against that server's own
// host (a ServerName set here applies to every server of the cluster).
//
// It is applied to a clone of the base transport: http.DefaultTransport's
// by default, or WithHTTPClient's, which must then be an *http.Transport
// (New fails with ErrBadOption otherwise); the clone's TLSClientConfig is
// replaced by cfg, the caller's transport is left as it is. With
// WithCAFile, the CA files' certificates are added to cfg's RootCAs.
func WithTLSConfig(cfg *tls.Config) Option {
	return func(o *options) error {
		if cfg == nil {
			return fmt.Errorf("%w: WithTLSConfig(nil)", ErrBadOption)
		}
		o.tls.config = cfg.Clone()
		return nil
	}
}

// WithCAFile trusts the CA certificates of a PEM file (a bundle: one or
// more "BEGIN CERTIFICATE" blocks) for the Livy servers' certificates,
// instead of the system's roots — as curl --cacert does. It may be given
// several times; all files are trusted. When WithTLSConfig (or, without
// it, the TLSClientConfig of WithHTTPClient's *http.Transport) has
// RootCAs, the certificates are added to a copy of them; the rest of that
// configuration (client certificates, …) is kept. An unreadable file, or one without a certificate, fails New with
// ErrBadOption, naming the file.
func WithCAFile(path string) Option {
	return func(o *options) error {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%w: CA file: %w", ErrBadOption, err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(data) {
			return fmt.Errorf("%w: CA file %s holds no PEM certificate (want BEGIN CERTIFICATE blocks)", ErrBadOption, path)
		}
		o.tls.cas = append(o.tls.cas, data)
		return nil
	}
}

// transport applies the TLS options to base, the base transport (custom:
// it came from WithHTTPClient), and wraps the result so that an untrusted
// certificate gives a *CertificateError.
func (t *tlsOptions) transport(base http.RoundTripper, custom bool) (http.RoundTripper, error) {
	if !t.set() {
		return certErrors{base}, nil
	}
	ht, ok := base.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("%w: WithTLSConfig and WithCAFile need WithHTTPClient's Transport to be an *http.Transport, not %T; configure TLS on that transport instead", ErrBadOption, base)
	}
	if custom {
		ht = ht.Clone() // the caller's transport is not modified
	}
	var cfg *tls.Config
	switch {
	case t.config != nil:
		cfg = t.config.Clone()
	case ht.TLSClientConfig != nil:
		cfg = ht.TLSClientConfig.Clone()
	default:
		cfg = &tls.Config{}
	}
	if len(t.cas) > 0 {
		pool := x509.NewCertPool()
		if cfg.RootCAs != nil {
			pool = cfg.RootCAs.Clone()
		}
		for _, pem := range t.cas {
			pool.AppendCertsFromPEM(pem)
		}
		cfg.RootCAs = pool
	}
	ht.TLSClientConfig = cfg
	return certErrors{ht}, nil
}

// certErrors turns an untrusted-certificate failure of the base transport
// into a *CertificateError.
type certErrors struct{ rt http.RoundTripper }

func (c certErrors) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(req)
	if err != nil {
		var ua x509.UnknownAuthorityError
		if errors.As(err, &ua) {
			return nil, &CertificateError{Err: err}
		}
	}
	return resp, err
}

// CloseIdleConnections closes the base transport's idle connections.
func (c certErrors) CloseIdleConnections() {
	if ci, ok := c.rt.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}
