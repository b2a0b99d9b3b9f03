package kafka

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/tlsconf"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The settings of Config as environment variables (pkg/config declares
// them; errors here name them so an operator knows what to fix).
const (
	EnvBrokers       = "ISTHMUS_KAFKA_BROKERS"
	EnvTLSEnabled    = "ISTHMUS_KAFKA_TLS_ENABLED"
	EnvTLSCAFile     = "ISTHMUS_KAFKA_TLS_CA_FILE"
	EnvTLSCertFile   = "ISTHMUS_KAFKA_TLS_CERT_FILE"
	EnvTLSKeyFile    = "ISTHMUS_KAFKA_TLS_KEY_FILE"
	EnvTLSServerName = "ISTHMUS_KAFKA_TLS_SERVER_NAME"
	EnvSASLMechanism = "ISTHMUS_KAFKA_SASL_MECHANISM"
	EnvSASLUser      = "ISTHMUS_KAFKA_SASL_USER"
	EnvSASLPassword  = "ISTHMUS_KAFKA_SASL_PASSWORD"
	EnvOAuthPrefix   = "ISTHMUS_KAFKA_SASL_OAUTH_"
	EnvOAuthTokenURL = EnvOAuthPrefix + "TOKEN_URL"
	EnvOAuthClientID = EnvOAuthPrefix + "CLIENT_ID"
	EnvOAuthSecret   = EnvOAuthPrefix + "CLIENT_SECRET"
	EnvOAuthScope    = EnvOAuthPrefix + "SCOPE"
	EnvOAuthAudience = EnvOAuthPrefix + "AUDIENCE"
)

// oauthError marks a failure to get an OAUTHBEARER token.
type oauthError struct{ err error }

func (e *oauthError) Error() string { return "OAUTHBEARER token: " + e.err.Error() }
func (e *oauthError) Unwrap() error { return e.err }

// ConnectError is a connection the cluster refused because of a setting:
// retrying cannot help, the setting has to change.
type ConnectError struct {
	Setting string // the environment variable(s) to check
	Msg     string // one line: what happened
}

func (e *ConnectError) Error() string { return e.Msg }

// Preflight connects once and asks for metadata, within timeout. It returns
// nil when the cluster answers; a *ConnectError (one line naming the setting)
// when TLS or SASL refused the connection; any other error when the cluster
// could not be reached at all.
func (c Config) Preflight(ctx context.Context, timeout time.Duration) error {
	cl, err := c.NewClient(kgo.DialTimeout(min(timeout, 5*time.Second)), kgo.RetryTimeout(timeout),
		kgo.RequestRetries(2))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err = cl.Request(ctx, kmsg.NewPtrMetadataRequest())
	if err == nil {
		return nil
	}
	return c.Explain(err)
}

// Explain turns a client error into one line: a *ConnectError naming the
// setting when TLS or SASL refused the connection, else "kafka BROKERS
// unreachable: ..." (errors of a request the cluster answered pass unchanged).
func (c Config) Explain(err error) error {
	if err == nil {
		return nil
	}
	var ce *ConnectError
	if errors.As(err, &ce) {
		return err
	}
	brokers := strings.Join(c.Brokers, ",")
	oneLine := func(e error) string { return strings.Join(strings.Fields(e.Error()), " ") }
	refuse := func(setting, what string) error {
		return &ConnectError{Setting: setting, Msg: fmt.Sprintf("kafka %s: %s (check %s): %s", brokers, what, setting, oneLine(err))}
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		tlsFile   *tlsconf.FileError
		oe        *oauthError
		ke        *kerr.Error
	)
	mech := strings.ToUpper(c.SASL.Mechanism)
	msg := err.Error()
	switch {
	case errors.As(err, &tlsFile):
		if tlsFile.Field == tlsconf.FieldCA {
			return refuse(EnvTLSCAFile, "cannot use the CA bundle")
		}
		return refuse(EnvTLSCertFile+" and "+EnvTLSKeyFile, "cannot use the client certificate")
	case errors.As(err, &unknownCA):
		return refuse(EnvTLSCAFile, "the brokers' certificate is not signed by a trusted CA")
	case errors.As(err, &hostname):
		return refuse(EnvTLSServerName, "the brokers' certificate does not name the host")
	case errors.As(err, &invalid):
		return refuse(EnvTLSCAFile, "the brokers' certificate is not valid")
	case strings.Contains(msg, "certificate required") || strings.Contains(msg, "bad certificate") || strings.Contains(msg, "unknown certificate authority"):
		return refuse(EnvTLSCertFile+" and "+EnvTLSKeyFile, "the brokers refused our client certificate (mutual TLS)")
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return refuse(EnvTLSEnabled, "the listener does not speak TLS")
	case strings.Contains(msg, "plaintext connection speaking to a tls endpoint"):
		return refuse(EnvTLSEnabled, "the listener speaks TLS")
	case errors.As(err, &oe):
		return refuse(EnvOAuthTokenURL+", "+EnvOAuthClientID+" and "+EnvOAuthSecret, "no OAUTHBEARER token")
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		if mech == "OAUTHBEARER" {
			return refuse(EnvOAuthPrefix+"* (token audience, issuer, signing key)", "the brokers refused the OAUTHBEARER token")
		}
		return refuse(EnvSASLUser+" and "+EnvSASLPassword, fmt.Sprintf("SASL %s authentication failed for user %q", mech, c.SASL.User))
	case errors.Is(err, kerr.UnsupportedSaslMechanism), errors.Is(err, kerr.IllegalSaslState):
		return refuse(EnvSASLMechanism, fmt.Sprintf("the listener does not accept SASL mechanism %q", mech))
	case errors.As(err, &ke):
		return err // the cluster answered
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(msg, "connection reset"):
		// The broker hung up: a TLS listener talked to in plain text, or a
		// SASL listener asked for data before authenticating.
		switch {
		case !c.TLS.Enabled:
			return refuse(EnvTLSEnabled+" and "+EnvSASLMechanism, "the broker closed the connection; its listener may need TLS or SASL")
		case mech == "":
			return refuse(EnvSASLMechanism, "the broker closed the connection; its listener may need SASL")
		}
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) || strings.Contains(msg, "dial") ||
		errors.Is(err, io.EOF) || strings.Contains(msg, "connection reset") {
		return fmt.Errorf("kafka %s unreachable: %s", brokers, oneLine(err))
	}
	return err
}
