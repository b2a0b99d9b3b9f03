// Package tlsconf builds crypto/tls configurations from PEM files: for
// clients (Kafka, the schema registry, Redis, the gateway's callers) and for
// servers (the gateway). Every program loads its certificates here, so a
// file that cannot be used is reported the same way everywhere: a
// *FileError saying whether the CA bundle or the certificate and key pair
// is at fault, which the caller prefixes with the setting that named it.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Files names the PEM files of one TLS endpoint. Empty names are not used.
type Files struct {
	// CAFile is a CA bundle: for a client, the roots the server's
	// certificate must chain to (system roots when empty); for a server, the
	// roots of the client certificates it accepts.
	CAFile string
	// CertFile and KeyFile are this side's certificate and its key; both or
	// neither.
	CertFile, KeyFile string
}

// What a FileError is about.
const (
	FieldCA   = "ca"   // the CA bundle
	FieldCert = "cert" // the certificate and key pair
)

// FileError is a TLS file that cannot be used.
type FileError struct {
	Field  string // FieldCA or FieldCert
	Server bool   // the certificate is a server's (else a client's)
	Err    error
}

func (e *FileError) Error() string {
	switch {
	case e.Field == FieldCA:
		return "CA bundle: " + e.Err.Error()
	case e.Server:
		return "server certificate: " + e.Err.Error()
	}
	return "client certificate: " + e.Err.Error()
}

func (e *FileError) Unwrap() error { return e.Err }

// Client returns a client configuration (TLS 1.2 or later): the roots of
// f.CAFile, and f's certificate when given. The caller sets ServerName when
// the address does not name the certificate's host.
func Client(f Files) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CAFile != "" {
		pool, err := pool(f.CAFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	if (f.CertFile == "") != (f.KeyFile == "") {
		return nil, &FileError{Field: FieldCert, Err: errors.New("a client certificate and its key must be given together")}
	}
	if f.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, &FileError{Field: FieldCert, Err: err}
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Server returns a server configuration (TLS 1.2 or later, HTTP/2 and
// HTTP/1.1 offered) with f's certificate, which is required. With
// f.CAFile, client certificates signed by its roots are verified when a
// client presents one (tls.VerifyClientCertIfGiven); whether a call without
// one is refused is the server's decision, so it can answer with its own
// status instead of a failed handshake.
func Server(f Files) (*tls.Config, error) {
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, &FileError{Field: FieldCert, Server: true, Err: errors.New("a server certificate and its key must be given together")}
	}
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, &FileError{Field: FieldCert, Server: true, Err: err}
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	if f.CAFile != "" {
		pool, err := pool(f.CAFile)
		if err != nil {
			return nil, err
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return tc, nil
}

func pool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, &FileError{Field: FieldCA, Err: err}
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		return nil, &FileError{Field: FieldCA, Err: fmt.Errorf("%s: no PEM certificate found", file)}
	}
	return p, nil
}

// Invalid names the setting of the file at fault in err, an error of Client
// or Server: "invalid <ca>: CA bundle: ..." or "invalid <cert>: client
// certificate: ...". Other errors (and nil) are returned as they are.
func Invalid(err error, ca, cert string) error {
	var fe *FileError
	if !errors.As(err, &fe) {
		return err
	}
	if fe.Field == FieldCA {
		return fmt.Errorf("invalid %s: %w", ca, err)
	}
	return fmt.Errorf("invalid %s: %w", cert, err)
}
