package provision

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/isthmus/isthmus/pkg/catalog"
	"github.com/isthmus/isthmus/pkg/compat"
)

// IsNotFound reports a registry 404 (subject, version or schema unknown).
func IsNotFound(err error) bool {
	var re *sr.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

// Schema registers one topic value schema under subject (unless it is
// already there) and sets the subject compatibility from the catalog; it
// returns a one-line description of what it did or would do.
func Schema(ctx context.Context, cl *sr.Client, subject string, t *catalog.Topic, dry bool) (string, error) {
	schema := sr.Schema{Schema: t.SchemaJSON, Type: sr.TypeAvro}
	level, err := Level(t.Compatibility)
	if err != nil {
		return "", err
	}
	cur := cl.Compatibility(ctx, subject)[0]
	if cur.Err != nil && !IsNotFound(cur.Err) {
		return "", cur.Err
	}
	compatNote := "compatibility " + string(t.Compatibility)
	if cur.Err != nil || cur.Level != level {
		if dry {
			compatNote = "would set compatibility " + string(t.Compatibility)
		} else {
			if r := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: level}, subject)[0]; r.Err != nil {
				return "", r.Err
			}
			compatNote = "set compatibility " + string(t.Compatibility)
		}
	}
	ss, err := cl.LookupSchema(ctx, subject, schema)
	if err == nil {
		return fmt.Sprintf("unchanged (id %d, version %d), %s", ss.ID, ss.Version, compatNote), nil
	}
	if !IsNotFound(err) {
		return "", err
	}
	if dry {
		res, err := cl.CheckCompatibility(ctx, subject, -2, schema)
		if err != nil && !IsNotFound(err) {
			return "", err
		}
		if err == nil && !res.Is {
			return "", fmt.Errorf("would be refused: %s", strings.Join(res.Messages, "; "))
		}
		return "would register, " + compatNote, nil
	}
	id, err := cl.RegisterSchema(ctx, subject, schema, -1, -1)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("registered (id %d), %s", id, compatNote), nil
}

// Level converts a catalog mode into the registry client level.
func Level(m compat.Mode) (sr.CompatibilityLevel, error) {
	var l sr.CompatibilityLevel
	if err := l.UnmarshalText([]byte(m)); err != nil {
		return 0, fmt.Errorf("compatibility %q: %w", m, err)
	}
	return l, nil
}

// SchemaResult is what Schemas did for one subject.
type SchemaResult struct {
	Subject string
	Line    string
	Err     error
}

// Schemas applies Schema to every Avro topic with prefix. A registry that
// cannot be reached stops it; a subject the registry refuses (e.g. 409
// incompatible) is reported in its result and in the returned error.
func Schemas(ctx context.Context, cl *sr.Client, prefix string, topics []*catalog.Topic, dryRun bool) ([]SchemaResult, error) {
	var out []SchemaResult
	var failed []string
	for _, t := range topics {
		if !t.IsAvro() {
			continue
		}
		subject := prefix + t.Subject()
		line, err := Schema(ctx, cl, subject, t, dryRun)
		var re *sr.ResponseError
		if err != nil && !(errors.As(err, &re) && re.StatusCode < 500) {
			return out, err
		}
		out = append(out, SchemaResult{Subject: subject, Line: line, Err: err})
		if err != nil {
			failed = append(failed, subject+": "+strings.Join(strings.Fields(err.Error()), " "))
		}
	}
	if len(failed) > 0 {
		return out, fmt.Errorf("%d of %d subjects failed; first: %s", len(failed), len(out), failed[0])
	}
	return out, nil
}
