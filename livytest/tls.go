package livytest

import (
	"crypto/tls"
	"errors"
	"fmt"
)

// serverTLS returns the server's TLS configuration (Config.TLSConfig, or
// one loaded from Config.TLSCert and TLSKey), or nil for plain http.
func serverTLS(cfg Config, spec profileSpec) (*tls.Config, error) {
	var tc *tls.Config
	switch {
	case cfg.TLSConfig != nil:
		if len(cfg.TLSConfig.Certificates) == 0 && cfg.TLSConfig.GetCertificate == nil && cfg.TLSConfig.GetConfigForClient == nil {
			return nil, errors.New("livytest: TLSConfig has no certificate")
		}
		tc = cfg.TLSConfig.Clone()
	case cfg.TLSCert != "" || cfg.TLSKey != "":
		if cfg.TLSCert == "" || cfg.TLSKey == "" {
			return nil, errors.New("livytest: TLS needs both TLSCert and TLSKey")
		}
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("livytest: TLS certificate %s and key %s: %w", cfg.TLSCert, cfg.TLSKey, err)
		}
		tc = &tls.Config{Certificates: []tls.Certificate{cert}}
	default:
		return nil, nil
	}
	if spec.ha == haPR212 {
		return nil, errors.New("livytest: TLS is not supported in the pr212 profile")
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	return tc, nil
}
