package gatewayclient

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/isthmus/isthmus/pkg/config"
	"github.com/isthmus/isthmus/pkg/testinfra"
)

func parse(t *testing.T, env map[string]string) (*Config, error) {
	t.Helper()
	var c Config
	s := config.NewSet("test")
	c.Register(s, []string{"customer:read"})
	err := s.Parse(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, io.Discard)
	return &c, err
}

func TestSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		err  string
	}{
		{"none", nil, ""},
		{"static token", map[string]string{"ISTHMUS_GATEWAY_TOKEN": "t"}, ""},
		{"cert without key", map[string]string{"ISTHMUS_GATEWAY_TLS_CERT_FILE": "c.pem"}, "ISTHMUS_GATEWAY_TLS_CERT_FILE/KEY_FILE"},
		{"oauth without secret", map[string]string{"ISTHMUS_OAUTH_TOKEN_URL": "http://127.0.0.1:1/token", "ISTHMUS_OAUTH_CLIENT_ID": "sim"}, "ISTHMUS_OAUTH_"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.env)
			if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
		})
	}
	c, err := parse(t, map[string]string{"ISTHMUS_OAUTH_TOKEN_URL": "http://127.0.0.1:1/token", "ISTHMUS_OAUTH_CLIENT_ID": "sim", "ISTHMUS_OAUTH_CLIENT_SECRET": "s"})
	if err != nil || strings.Join(c.OAuth.Scopes, " ") != "customer:read" {
		t.Fatalf("default scopes: %v %v", c.OAuth.Scopes, err)
	}
	if c.Secure() {
		t.Fatal("no TLS setting, yet secure")
	}
	if _, err := Dial("127.0.0.1:1", Config{CAFile: "/nonexistent/ca.pem"}, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "ISTHMUS_GATEWAY_TLS_CA_FILE") {
		t.Fatalf("missing CA file: %v", err)
	}
}

// TestStaticToken: every call carries the static token as a bearer.
func TestStaticToken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	s := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		md, _ := metadata.FromIncomingContext(ss.Context())
		got <- strings.Join(md.Get("authorization"), ",")
		return nil
	}))
	go func() { _ = s.Serve(ln) }()
	defer s.Stop()
	conn, err := Dial(ln.Addr().String(), Config{Token: "dev-token"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if conn.Credentials != nil {
		t.Fatal("a static token has no renewing credentials")
	}
	_ = conn.Invoke(context.Background(), "/any.Service/Method", &emptypb.Empty{}, &emptypb.Empty{})
	if a := <-got; a != "Bearer dev-token" {
		t.Fatalf("authorization %q", a)
	}
}

// TestMutualTLS: with the CA, client certificate and key files the call
// reaches a server that requires a verified client certificate; without the
// certificate it is refused by the handshake.
func TestMutualTLS(t *testing.T) {
	pki := testinfra.NewPKI(t)
	serverCert, err := tls.LoadX509KeyPair(pki.ServerCert, pki.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: pki.Pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12})),
		grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
			md, _ := metadata.FromIncomingContext(ss.Context())
			got <- strings.Join(md.Get("authorization"), ",")
			return ss.SendMsg(&emptypb.Empty{})
		}))
	go func() { _ = s.Serve(ln) }()
	defer s.Stop()
	call := func(c Config) error {
		conn, err := Dial(ln.Addr().String(), c, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return conn.Invoke(ctx, "/any.Service/Method", &emptypb.Empty{}, &emptypb.Empty{})
	}
	if err := call(Config{CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey, Token: "t"}); err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	if a := <-got; a != "Bearer t" {
		t.Fatalf("authorization %q over TLS", a)
	}
	if err := call(Config{CAFile: pki.CAFile, Token: "t"}); err == nil {
		t.Fatal("a server requiring client certificates answered a client without one")
	}
	if _, err := Dial("127.0.0.1:1", Config{CertFile: pki.ClientCert}, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "ISTHMUS_GATEWAY_TLS_CERT_FILE/KEY_FILE") {
		t.Fatalf("certificate without key: %v", err)
	}
}
