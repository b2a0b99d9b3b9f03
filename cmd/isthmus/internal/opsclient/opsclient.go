// Package opsclient is how the operator verbs (isthmus exceptions, isthmus
// dlq replay) reach the operations API served with the dashboard: its URL
// (--api, env ISTHMUS_OPS_URL, default http://localhost:8088), the
// operator's bearer token (env ISTHMUS_OPERATOR_TOKEN only, never a flag,
// so it stays out of shell history and process lists), --output and
// --timeout; and the API's refusals as one-line errors.
package opsclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// EnvToken names the operator's token variable.
const EnvToken = "ISTHMUS_OPERATOR_TOKEN"

// EnvURL names the API's base URL variable.
const EnvURL = "ISTHMUS_OPS_URL"

// Client calls the operations API.
type Client struct {
	API     string
	Output  string
	Timeout time.Duration
	lookup  func(string) (string, bool)
}

// Lookup replaces os.LookupEnv (tests).
func (c *Client) Lookup(f func(string) (string, bool)) { c.lookup = f }

func (c *Client) env(k string) string {
	f := c.lookup
	if f == nil {
		f = os.LookupEnv
	}
	v, _ := f(k)
	return strings.TrimSpace(v)
}

// Flags adds --api, --output and --timeout.
func (c *Client) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.API, "api", "", "operations API base URL (default: env "+EnvURL+", then http://localhost:8088); the token comes from env "+EnvToken)
	fs.StringVar(&c.Output, "output", "text", "output format: text or json")
	fs.DurationVar(&c.Timeout, "timeout", 30*time.Second, "give up when the API does not answer within this time")
}

// JSON reports --output json.
func (c *Client) JSON() bool { return c.Output == "json" }

// Check validates the flags.
func (c *Client) Check() error {
	if c.Output != "text" && c.Output != "json" {
		return fmt.Errorf("--output %q: want text or json", c.Output)
	}
	if c.API == "" {
		c.API = c.env(EnvURL)
	}
	if c.API == "" {
		c.API = "http://localhost:8088"
	}
	u, err := url.Parse(c.API)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--api %q: want http(s)://host:port", c.API)
	}
	c.API = strings.TrimRight(c.API, "/")
	return nil
}

// Parse parses args into fs, positional arguments anywhere among the
// flags, then checks the flags (Check); it returns the positional
// arguments.
func (c *Client) Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for rest := args; len(rest) > 0; {
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		if rest = fs.Args(); len(rest) > 0 {
			pos, rest = append(pos, rest[0]), rest[1:]
		}
	}
	if err := c.Check(); err != nil {
		return nil, err
	}
	return pos, nil
}

// APIError is a refusal of the API.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// Do sends a request with the operator's token and decodes the JSON answer
// into out (when not nil).
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	tok := c.env(EnvToken)
	if tok == "" {
		return errors.New(EnvToken + " is not set: export the operator's bearer token (isthmus dev prints development ones)")
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.API+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("operations API %s unreachable: %v", c.API, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("operations API %s: %v", c.API, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(raw))
			if len(e.Error) > 200 {
				e.Error = e.Error[:200] + "…"
			}
		}
		return &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("operations API %s answered %s with no JSON: %v", c.API, path, err)
	}
	return nil
}
