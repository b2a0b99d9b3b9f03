package tlsconf_test

import (
	"crypto/tls"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/isthmus/isthmus/pkg/tlsconf"
)

func TestFiles(t *testing.T) {
	pki := testinfra.NewPKI(t)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	type want struct {
		field    string // "": no error
		msg      string // the error text starts with it
		notExist bool
	}
	for _, c := range []struct {
		name   string
		server bool
		files  tlsconf.Files
		want   want
		check  func(t *testing.T, tc *tls.Config)
	}{
		{name: "client, no files: system roots, no certificate", files: tlsconf.Files{}, check: func(t *testing.T, tc *tls.Config) {
			if tc.RootCAs != nil || len(tc.Certificates) != 0 || tc.MinVersion != tls.VersionTLS12 {
				t.Errorf("got roots %v, %d certificates, min version %x", tc.RootCAs, len(tc.Certificates), tc.MinVersion)
			}
		}},
		{name: "client, CA and certificate", files: tlsconf.Files{CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}, check: func(t *testing.T, tc *tls.Config) {
			if tc.RootCAs == nil || len(tc.Certificates) != 1 {
				t.Errorf("got roots %v, %d certificates", tc.RootCAs, len(tc.Certificates))
			}
		}},
		{name: "client, missing CA", files: tlsconf.Files{CAFile: missing}, want: want{field: tlsconf.FieldCA, msg: "CA bundle: open " + missing, notExist: true}},
		{name: "client, CA without a certificate", files: tlsconf.Files{CAFile: notPEM}, want: want{field: tlsconf.FieldCA, msg: "CA bundle: " + notPEM + ": no PEM certificate found"}},
		{name: "client, certificate without key", files: tlsconf.Files{CertFile: pki.ClientCert}, want: want{field: tlsconf.FieldCert, msg: "client certificate: a client certificate and its key must be given together"}},
		{name: "client, key without certificate", files: tlsconf.Files{KeyFile: pki.ClientKey}, want: want{field: tlsconf.FieldCert, msg: "client certificate: a client certificate and its key must be given together"}},
		{name: "client, key of another certificate", files: tlsconf.Files{CertFile: pki.ClientCert, KeyFile: pki.ServerKey}, want: want{field: tlsconf.FieldCert, msg: "client certificate: tls: private key does not match public key"}},
		{name: "client, missing certificate", files: tlsconf.Files{CertFile: missing, KeyFile: pki.ClientKey}, want: want{field: tlsconf.FieldCert, msg: "client certificate: open " + missing, notExist: true}},

		{name: "server, certificate only", server: true, files: tlsconf.Files{CertFile: pki.ServerCert, KeyFile: pki.ServerKey}, check: func(t *testing.T, tc *tls.Config) {
			if len(tc.Certificates) != 1 || tc.ClientCAs != nil || tc.ClientAuth != tls.NoClientCert || strings.Join(tc.NextProtos, ",") != "h2,http/1.1" {
				t.Errorf("got %d certificates, client CAs %v, client auth %v, protocols %v", len(tc.Certificates), tc.ClientCAs, tc.ClientAuth, tc.NextProtos)
			}
		}},
		{name: "server, client CA", server: true, files: tlsconf.Files{CAFile: pki.CAFile, CertFile: pki.ServerCert, KeyFile: pki.ServerKey}, check: func(t *testing.T, tc *tls.Config) {
			if tc.ClientCAs == nil || tc.ClientAuth != tls.VerifyClientCertIfGiven {
				t.Errorf("got client CAs %v, client auth %v", tc.ClientCAs, tc.ClientAuth)
			}
		}},
		{name: "server, no certificate", server: true, files: tlsconf.Files{CAFile: pki.CAFile}, want: want{field: tlsconf.FieldCert, msg: "server certificate: a server certificate and its key must be given together"}},
		{name: "server, key of another certificate", server: true, files: tlsconf.Files{CertFile: pki.ServerCert, KeyFile: pki.ClientKey}, want: want{field: tlsconf.FieldCert, msg: "server certificate: tls: private key does not match public key"}},
		{name: "server, client CA without a certificate", server: true, files: tlsconf.Files{CAFile: notPEM, CertFile: pki.ServerCert, KeyFile: pki.ServerKey}, want: want{field: tlsconf.FieldCA, msg: "CA bundle: " + notPEM + ": no PEM certificate found"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			build := tlsconf.Client
			if c.server {
				build = tlsconf.Server
			}
			tc, err := build(c.files)
			if c.want.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				c.check(t, tc)
				return
			}
			var fe *tlsconf.FileError
			if !errors.As(err, &fe) || fe.Field != c.want.field || tc != nil {
				t.Fatalf("got %v (%T), config %v; want a %q FileError", err, err, tc, c.want.field)
			}
			if !strings.HasPrefix(err.Error(), c.want.msg) {
				t.Errorf("error %q, want it to start with %q", err, c.want.msg)
			}
			if errors.Is(err, fs.ErrNotExist) != c.want.notExist {
				t.Errorf("errors.Is(%v, fs.ErrNotExist) = %v", err, !c.want.notExist)
			}
		})
	}
}

// TestMutualTLS: a client and a server built from the same PKI shake
// hands, the server seeing the client's certificate; a client without the
// CA does not trust the server.
func TestMutualTLS(t *testing.T) {
	pki := testinfra.NewPKI(t)
	srv, err := tlsconf.Server(tlsconf.Files{CAFile: pki.CAFile, CertFile: pki.ServerCert, KeyFile: pki.ServerKey})
	if err != nil {
		t.Fatal(err)
	}
	handshake := func(client tlsconf.Files) (peers int, err error) {
		cl, err := tlsconf.Client(client)
		if err != nil {
			t.Fatal(err)
		}
		cl.ServerName = "127.0.0.1"
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		s := tls.Server(a, srv)
		done := make(chan error, 1)
		go func() { done <- s.Handshake() }()
		cerr := tls.Client(b, cl).Handshake()
		if cerr != nil {
			b.Close()
			<-done
			return 0, cerr
		}
		if err := <-done; err != nil {
			return 0, err
		}
		return len(s.ConnectionState().PeerCertificates), nil
	}
	if n, err := handshake(tlsconf.Files{CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}); err != nil || n != 1 {
		t.Fatalf("mutual TLS: %d peer certificates, %v", n, err)
	}
	if n, err := handshake(tlsconf.Files{CAFile: pki.CAFile}); err != nil || n != 0 {
		t.Fatalf("without a client certificate (verified if given): %d peer certificates, %v", n, err)
	}
	if _, err := handshake(tlsconf.Files{CAFile: testinfra.UntrustedCA(t)}); err == nil {
		t.Fatal("a client trusting another CA accepted the server")
	}
}

func TestInvalid(t *testing.T) {
	_, caErr := tlsconf.Client(tlsconf.Files{CAFile: filepath.Join(t.TempDir(), "missing.pem")})
	_, certErr := tlsconf.Client(tlsconf.Files{CertFile: "c.pem"})
	other := errors.New("something else")
	for _, c := range []struct {
		in   error
		want string
	}{
		{caErr, "invalid CA_SETTING: CA bundle: open "},
		{certErr, "invalid CERT_SETTING: client certificate: a client certificate and its key must be given together"},
		{other, "something else"},
	} {
		got := tlsconf.Invalid(c.in, "CA_SETTING", "CERT_SETTING")
		if !strings.HasPrefix(got.Error(), c.want) || !errors.Is(got, c.in) {
			t.Errorf("Invalid(%v) = %v, want it to start with %q and wrap the input", c.in, got, c.want)
		}
	}
	if tlsconf.Invalid(nil, "A", "B") != nil {
		t.Error("Invalid(nil) is not nil")
	}
}
