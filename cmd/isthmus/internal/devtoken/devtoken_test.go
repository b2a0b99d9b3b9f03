package devtoken

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestMintAndVerify(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir, false); err == nil || !strings.Contains(err.Error(), "start `isthmus dev` first") {
		t.Fatalf("missing key: %v", err)
	}
	k, err := Load(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := Load(dir, false)
	if err != nil || !k2.Private.Equal(k.Private) {
		t.Fatalf("reload: %v", err)
	}
	tok, err := k.Mint("q2o", []string{"pricing:read", "credit:read"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return &k.Private.PublicKey, nil }, jwt.WithValidMethods([]string{"ES256"}))
	if err != nil {
		t.Fatal(err)
	}
	c := parsed.Claims.(jwt.MapClaims)
	if c["scope"] != "pricing:read credit:read" || c["sub"] != "q2o" || parsed.Header["kid"] != KeyID {
		t.Fatalf("claims %v header %v", c, parsed.Header)
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	t.Setenv("ISTHMUS_DEV_KEY_DIR", t.TempDir())
	for _, args := range [][]string{{"--scopes", "admin"}, {"--scopes", ""}, {"--ttl", "-1s"}, {"extra"}} {
		var out, errb bytes.Buffer
		if err := Run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	var out, errb bytes.Buffer
	if err := Run(context.Background(), nil, &out, &errb); err == nil || !strings.Contains(err.Error(), "isthmus dev") {
		t.Errorf("no key: %v", err)
	}
}
