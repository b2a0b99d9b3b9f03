// Package devtoken mints bearer tokens for the development stack: `isthmus
// dev` creates (once) an ES256 key pair in its key directory, gives the
// gateway and the operations API (reconciler) the public key and the
// services a token, and `isthmus dev-token` mints more from the same key —
// operator tokens too (--scopes ops.resolver,...). Production gateways verify tokens from the
// company's identity provider (JWKS) instead.
package devtoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/isthmus/isthmus/cmd/isthmus/internal/cli"
)

// KeyID names the development key in the token header and the PEM file.
const KeyID = "isthmus-dev"

// Issuer is the iss claim of development tokens.
const Issuer = "isthmus-dev"

// AllScopes are every gateway method scope.
var AllScopes = []string{"pricing:read", "credit:read", "credit:reserve", "inventory:read", "customer:read", "service:read"}

// OperatorRoles are the operations API's roles; development tokens carry
// them in the scope claim, where the reconciler reads roles by default.
var OperatorRoles = []string{"ops.viewer", "ops.resolver", "finance.approver", "ops.replayer", "ops.cutover"}

// Dir is where the development key lives: ISTHMUS_DEV_KEY_DIR, else the
// user's cache directory.
func Dir() (string, error) {
	if d := os.Getenv("ISTHMUS_DEV_KEY_DIR"); d != "" {
		return d, nil
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no key directory: set ISTHMUS_DEV_KEY_DIR (%v)", err)
	}
	return filepath.Join(c, "isthmus"), nil
}

// Keys is the development key pair and the path of its public PEM.
type Keys struct {
	Private    *ecdsa.PrivateKey
	PublicFile string
}

// Load reads the key pair from dir, creating it when create is set and it
// does not exist yet.
func Load(dir string, create bool) (*Keys, error) {
	priv := filepath.Join(dir, "dev-jwt-key.pem")
	pub := filepath.Join(dir, "dev-jwt-public.pem")
	data, err := os.ReadFile(priv)
	switch {
	case errors.Is(err, fs.ErrNotExist) && create:
		return generate(dir, priv, pub)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("no development key in %s: start `isthmus dev` first (or set ISTHMUS_DEV_KEY_DIR)", dir)
	case err != nil:
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("%s: no PEM block", priv)
	}
	k, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", priv, err)
	}
	if _, err := os.Stat(pub); err != nil {
		if err := writePublic(pub, k); err != nil {
			return nil, err
		}
	}
	return &Keys{Private: k, PublicFile: pub}, nil
}

func generate(dir, priv, pub string) (*Keys, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := writePublic(pub, k); err != nil {
		return nil, err
	}
	return &Keys{Private: k, PublicFile: pub}, nil
}

func writePublic(path string, k *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"kid": KeyID}, Bytes: der}), 0o644)
}

// Mint signs a token for subject with scopes, valid for ttl.
func (k *Keys) Mint(subject string, scopes []string, ttl time.Duration) (string, error) {
	now := time.Now()
	t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": Issuer, "sub": subject, "scope": strings.Join(scopes, " "),
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	})
	t.Header["kid"] = KeyID
	return t.SignedString(k.Private)
}

// Run is `isthmus dev-token`.
func Run(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev-token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scopes := fs.String("scopes", strings.Join(AllScopes, ","), "comma-separated scopes: "+strings.Join(AllScopes, ", ")+", or operator roles "+strings.Join(OperatorRoles, ", "))
	subject := fs.String("subject", "developer", "token subject (the client the gateway rate-limits; the operator a decision names)")
	ttl := fs.Duration("ttl", 24*time.Hour, "lifetime")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, fs.Arg(0))
	}
	var list []string
	for _, s := range strings.Split(*scopes, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		known := false
		for _, a := range append(append([]string{}, AllScopes...), OperatorRoles...) {
			known = known || a == s
		}
		if !known {
			return fmt.Errorf("%w: unknown scope %q (known: %s, %s)", cli.ErrUsage, s, strings.Join(AllScopes, ", "), strings.Join(OperatorRoles, ", "))
		}
		list = append(list, s)
	}
	if len(list) == 0 {
		return fmt.Errorf("%w: no scope given", cli.ErrUsage)
	}
	if *ttl <= 0 {
		return fmt.Errorf("%w: --ttl must be positive", cli.ErrUsage)
	}
	dir, err := Dir()
	if err != nil {
		return err
	}
	keys, err := Load(dir, false)
	if err != nil {
		return err
	}
	tok, err := keys.Mint(*subject, list, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
