package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// strictPaths are the REST routes whose bodies may not hold JSON null.
// protojson reads null as "not set"; the OpenAPI document declares no
// nullable field, and CustomerService.ValidateAccount answers 200 with
// problems for almost any account, so a null there would be silently
// accepted rather than refused.
var strictPaths = []string{"/v1/customers:"}

// rejectNulls answers 400 InvalidArgument for a body on a strict path that
// holds a JSON null anywhere; other bodies (and malformed JSON, which the
// REST face refuses itself) pass unchanged.
func rejectNulls(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		strict := false
		for _, p := range strictPaths {
			strict = strict || strings.HasPrefix(r.URL.Path, p)
		}
		if !strict || r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			_, _ = w.Write([]byte(`{"code":3,"message":"request body too large or unreadable","details":[]}`))
			return
		}
		if path, ok := nullAt(body); ok {
			b, _ := json.Marshal(map[string]any{"code": 3, "message": "invalid request: " + path + ": must not be null", "details": []any{}})
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write(b)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// nullAt returns the path of the first null in a JSON document.
func nullAt(body []byte) (string, bool) {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return "", false
	}
	return findNull(v, "")
}

func findNull(v any, path string) (string, bool) {
	switch x := v.(type) {
	case nil:
		if path == "" {
			return "body", true
		}
		return path, true
	case map[string]any:
		for k, e := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if at, ok := findNull(e, p); ok {
				return at, true
			}
		}
	case []any:
		for _, e := range x {
			if at, ok := findNull(e, path); ok {
				return at, true
			}
		}
	}
	return "", false
}
