package gateway_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	creditv1 "github.com/isthmus/isthmus/pkg/api/isthmus/credit/v1"
	pricingv1 "github.com/isthmus/isthmus/pkg/api/isthmus/pricing/v1"
	"github.com/isthmus/isthmus/pkg/testinfra"
	"github.com/isthmus/isthmus/services/gateway/internal/gwtest"
)

type authCase struct {
	name  string
	token string
	cert  bool
	grpc  codes.Code
	http  int
}

// testAuthMatrix checks every refusal on both transports. Calls that pass auth reach
// the handler, which answers OK (models are seeded).
func testAuthMatrix(t *testing.T, e *gwtest.Env, mtls bool) {
	seed(e)
	cfg := e.Config()
	var pki *testinfra.PKI
	if mtls {
		pki = testinfra.NewPKI(t)
		cfg.TLSCertFile, cfg.TLSKeyFile, cfg.ClientCAFile = pki.ServerCert, pki.ServerKey, pki.CAFile
	}
	g := e.Start(cfg)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good := e.Token("q2o", time.Hour, gwtest.AllScopes...)
	cases := []authCase{
		{"valid token", good, true, codes.OK, 200},
		{"no token", "", true, codes.Unauthenticated, 401},
		{"expired token", e.Token("q2o", -time.Hour, gwtest.AllScopes...), true, codes.Unauthenticated, 401},
		{"bad signature", gwtest.SignES256(t, other, "test", "q2o", time.Hour, gwtest.AllScopes...), true, codes.Unauthenticated, 401},
		{"garbage token", "not.a.jwt", true, codes.Unauthenticated, 401},
		{"wrong scope", e.Token("q2o", time.Hour, "credit:read"), true, codes.PermissionDenied, 403},
	}
	if mtls {
		cases = append(cases, authCase{"missing client certificate", good, false, codes.Unauthenticated, 401})
	}
	scheme := "http://"
	if mtls {
		scheme = "https://"
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			creds := insecure.NewCredentials()
			var httpTLS *tls.Config
			if mtls {
				creds = credentials.NewTLS(pki.ClientTLS(tc.cert))
				httpTLS = pki.ClientTLS(tc.cert)
			}
			conn, err := grpc.NewClient(g.GRPCAddr, grpc.WithTransportCredentials(creds))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if tc.token != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tc.token)
			}
			var err2 error
			for range 200 { // wait for the models on the first case
				_, err2 = pricingv1.NewPricingServiceClient(conn).PriceQuote(ctx, quote(line("W", 1)))
				if status.Code(err2) != codes.Unavailable || ctx.Err() != nil {
					break
				}
				time.Sleep(25 * time.Millisecond)
			}
			if got := status.Code(err2); got != tc.grpc {
				t.Errorf("gRPC: %v, want %v", err2, tc.grpc)
			}
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: httpTLS}, Timeout: 5 * time.Second}
			req, _ := http.NewRequest(http.MethodPost, scheme+g.HTTPAddr+"/v1/pricing:quote", bytes.NewReader([]byte(`{"erpCustomerId":"C1","currencyCode":"USD","region":"NA","lines":[{"sku":"W","quantity":"1"}]}`)))
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("REST: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.http {
				t.Errorf("REST: %d, want %d", resp.StatusCode, tc.http)
			}
		})
	}
	t.Run("reserve needs credit:reserve", func(t *testing.T) {
		conn, err := grpc.NewClient(g.GRPCAddr, grpc.WithTransportCredentials(func() credentials.TransportCredentials {
			if mtls {
				return credentials.NewTLS(pki.ClientTLS(true))
			}
			return insecure.NewCredentials()
		}()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+e.Token("viewer", time.Hour, "credit:read"))
		_, err = creditv1.NewCreditServiceClient(conn).CheckCredit(ctx, &creditv1.CheckCreditRequest{Customer: &creditv1.CheckCreditRequest_ErpCustomerId{ErpCustomerId: "C1"}, Amount: usd(1), Reserve: true})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("reserve with credit:read only: %v", err)
		}
	})
}

func TestAuthMatrix(t *testing.T)     { testAuthMatrix(t, gwtest.Unit(t), false) }
func TestAuthMatrixMTLS(t *testing.T) { testAuthMatrix(t, gwtest.Unit(t), true) }
