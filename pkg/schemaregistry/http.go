package schemaregistry

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/compat"
	"github.com/isthmus/isthmus/pkg/serve"
)

// ContentType is the schema registry's media type.
const ContentType = "application/vnd.schemaregistry.v1+json"

const maxBody = 8 << 20

func (r *Registry) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { reply(w, map[string]any{}) })
	m.HandleFunc("GET /schemas/types", func(w http.ResponseWriter, _ *http.Request) { reply(w, []string{"AVRO"}) })
	m.HandleFunc("GET /subjects", r.hSubjects)
	m.HandleFunc("POST /subjects/{subject}", r.hLookup)
	m.HandleFunc("DELETE /subjects/{subject}", r.hDeleteSubject)
	m.HandleFunc("GET /subjects/{subject}/versions", r.hVersions)
	m.HandleFunc("POST /subjects/{subject}/versions", r.hRegister)
	m.HandleFunc("GET /subjects/{subject}/versions/{version}", r.hVersion)
	m.HandleFunc("DELETE /subjects/{subject}/versions/{version}", r.hDeleteVersion)
	m.HandleFunc("GET /subjects/{subject}/versions/{version}/schema", r.hVersionSchema)
	m.HandleFunc("GET /schemas/ids/{id}", r.hSchemaByID)
	m.HandleFunc("GET /schemas/ids/{id}/schema", r.hSchemaByIDRaw)
	m.HandleFunc("GET /schemas/ids/{id}/subjects", r.hSchemaSubjects)
	m.HandleFunc("GET /schemas/ids/{id}/versions", r.hSchemaVersions)
	m.HandleFunc("GET /config", r.hGetConfig)
	m.HandleFunc("PUT /config", r.hPutConfig)
	m.HandleFunc("GET /config/{subject}", r.hGetConfig)
	m.HandleFunc("PUT /config/{subject}", r.hPutConfig)
	m.HandleFunc("DELETE /config/{subject}", r.hDeleteConfig)
	m.HandleFunc("POST /compatibility/subjects/{subject}/versions", r.hCompat)
	m.HandleFunc("POST /compatibility/subjects/{subject}/versions/{version}", r.hCompat)
	m.HandleFunc("GET /mode", hMode)
	m.HandleFunc("GET /mode/{subject}", hMode)
	r.mux = m
}

// ServeHTTP implements http.Handler.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !r.authorized(req) {
		w.Header().Set("WWW-Authenticate", `Basic realm="isthmus-schema-registry"`)
		fail(w, &apiError{http.StatusUnauthorized, 401, "Unauthorized"})
		return
	}
	h, pattern := r.mux.Handler(req)
	if pattern == "" {
		// Distinguish an unknown path from a wrong method like Confluent does
		// (both 404/405 with a JSON body).
		rec := &statusRecorder{}
		h.ServeHTTP(rec, req)
		code := rec.status
		if code == 0 {
			code = http.StatusNotFound
		}
		fail(w, &apiError{code, code, http.StatusText(code) + ": " + req.Method + " " + req.URL.Path})
		return
	}
	r.mux.ServeHTTP(w, req) // sets the path values
}

type statusRecorder struct{ status int }

func (s *statusRecorder) Header() http.Header         { return http.Header{} }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(c int)           { s.status = c }

func (r *Registry) authorized(req *http.Request) bool {
	if r.user == "" && r.token == "" {
		return true
	}
	if r.user != "" {
		if u, p, ok := req.BasicAuth(); ok &&
			subtle.ConstantTimeCompare([]byte(u), []byte(r.user)) == 1 &&
			subtle.ConstantTimeCompare([]byte(p), []byte(r.password)) == 1 {
			return true
		}
	}
	if r.token != "" {
		h := req.Header.Get("Authorization")
		if t, ok := strings.CutPrefix(h, "Bearer "); ok && subtle.ConstantTimeCompare([]byte(t), []byte(r.token)) == 1 {
			return true
		}
	}
	return false
}

// Server is the registry's HTTP server on addr (pkg/serve): Listen binds
// it ("schema registry listener <addr>: ..."), Run serves until its context
// ends and stops within five seconds.
func (r *Registry) Server(addr string) *serve.Runner {
	return serve.New("schema registry", addr, serve.HTTP(&http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}), serve.Logger(r.log))
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{http.StatusInternalServerError, 50001, err.Error()}
	}
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(ae.status)
	_ = json.NewEncoder(w).Encode(struct {
		ErrorCode int    `json:"error_code"`
		Message   string `json:"message"`
	}{ae.code, ae.msg})
}

// schemaBody is the request body of register, lookup and compatibility.
type schemaBody struct {
	Schema     string            `json:"schema"`
	SchemaType string            `json:"schemaType"`
	References []json.RawMessage `json:"references"`
}

func readSchema(req *http.Request) (schemaBody, error) {
	var b schemaBody
	data, err := io.ReadAll(io.LimitReader(req.Body, maxBody))
	if err != nil {
		return b, &apiError{http.StatusBadRequest, 400, "read body: " + err.Error()}
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return b, &apiError{http.StatusUnprocessableEntity, 42201, "Invalid schema: request body is not JSON: " + err.Error()}
	}
	return b, nil
}

func queryFlag(req *http.Request, name string) bool {
	v, _ := strconv.ParseBool(req.URL.Query().Get(name))
	return v
}

// versionParam accepts "latest", "-1" or a positive number.
func versionParam(req *http.Request) string { return req.PathValue("version") }

func (r *Registry) hSubjects(w http.ResponseWriter, req *http.Request) {
	reply(w, r.Subjects(queryFlag(req, "deleted")))
}

func (r *Registry) hRegister(w http.ResponseWriter, req *http.Request) {
	b, err := readSchema(req)
	if err != nil {
		fail(w, err)
		return
	}
	id, err := r.Register(req.PathValue("subject"), b.Schema, b.SchemaType, len(b.References))
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, map[string]int{"id": id})
}

func (r *Registry) hLookup(w http.ResponseWriter, req *http.Request) {
	b, err := readSchema(req)
	if err != nil {
		fail(w, err)
		return
	}
	sv, err := r.Lookup(req.PathValue("subject"), b.Schema, b.SchemaType, len(b.References), queryFlag(req, "deleted"))
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, sv)
}

func (r *Registry) hVersions(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	deleted := queryFlag(req, "deleted")
	r.mu.Lock()
	sub, ok := r.subjects[subject]
	out := []int{}
	if ok {
		for _, v := range sub.Versions {
			if deleted || !v.Deleted {
				out = append(out, v.Version)
			}
		}
	}
	r.mu.Unlock()
	if len(out) == 0 {
		fail(w, errSubjectNotFound(subject))
		return
	}
	reply(w, out)
}

func (r *Registry) getVersion(req *http.Request) (SubjectVersion, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.version(req.PathValue("subject"), versionParam(req), queryFlag(req, "deleted"))
}

func (r *Registry) hVersion(w http.ResponseWriter, req *http.Request) {
	sv, err := r.getVersion(req)
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, sv)
}

func (r *Registry) hVersionSchema(w http.ResponseWriter, req *http.Request) {
	sv, err := r.getVersion(req)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	_, _ = io.WriteString(w, sv.Schema)
}

func idParam(req *http.Request) (int, error) {
	id, err := strconv.Atoi(req.PathValue("id"))
	if err != nil || id <= 0 {
		return 0, errSchemaNotFound(fmt.Sprintf("Schema %s not found", req.PathValue("id")))
	}
	return id, nil
}

func (r *Registry) hSchemaByID(w http.ResponseWriter, req *http.Request) {
	id, err := idParam(req)
	if err == nil {
		var text string
		if text, err = r.SchemaByID(id); err == nil {
			reply(w, map[string]string{"schema": text})
			return
		}
	}
	fail(w, err)
}

func (r *Registry) hSchemaByIDRaw(w http.ResponseWriter, req *http.Request) {
	id, err := idParam(req)
	if err == nil {
		var text string
		if text, err = r.SchemaByID(id); err == nil {
			w.Header().Set("Content-Type", ContentType)
			_, _ = io.WriteString(w, text)
			return
		}
	}
	fail(w, err)
}

func (r *Registry) schemaUsages(w http.ResponseWriter, req *http.Request) ([]SubjectVersion, bool) {
	id, err := idParam(req)
	if err == nil {
		_, err = r.SchemaByID(id)
	}
	if err != nil {
		fail(w, err)
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.usages(id, queryFlag(req, "deleted")), true
}

func (r *Registry) hSchemaSubjects(w http.ResponseWriter, req *http.Request) {
	us, ok := r.schemaUsages(w, req)
	if !ok {
		return
	}
	out := []string{}
	for _, u := range us {
		if len(out) == 0 || out[len(out)-1] != u.Subject {
			out = append(out, u.Subject)
		}
	}
	reply(w, out)
}

func (r *Registry) hSchemaVersions(w http.ResponseWriter, req *http.Request) {
	us, ok := r.schemaUsages(w, req)
	if !ok {
		return
	}
	type sv struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
	}
	out := []sv{}
	for _, u := range us {
		out = append(out, sv{u.Subject, u.Version})
	}
	reply(w, out)
}

func (r *Registry) hGetConfig(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	r.mu.Lock()
	level := r.global
	var set bool
	if subject != "" {
		if s, ok := r.subjects[subject]; ok && s.Compatibility != "" {
			level, set = s.Compatibility, true
		}
	}
	r.mu.Unlock()
	if subject != "" && !set && !queryFlag(req, "defaultToGlobal") {
		fail(w, &apiError{http.StatusNotFound, 40408, fmt.Sprintf("Subject '%s' does not have subject-level compatibility configured", subject)})
		return
	}
	reply(w, map[string]compat.Mode{"compatibilityLevel": level})
}

func (r *Registry) hPutConfig(w http.ResponseWriter, req *http.Request) {
	var b struct {
		Compatibility string `json:"compatibility"`
	}
	data, _ := io.ReadAll(io.LimitReader(req.Body, maxBody))
	if err := json.Unmarshal(data, &b); err != nil {
		fail(w, &apiError{http.StatusUnprocessableEntity, 42203, "Invalid compatibility level: body is not JSON"})
		return
	}
	mode, err := compat.ParseMode(b.Compatibility)
	if err != nil {
		fail(w, &apiError{http.StatusUnprocessableEntity, 42203, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive"})
		return
	}
	subject := req.PathValue("subject")
	r.mu.Lock()
	if subject == "" {
		r.global = mode
	} else {
		s, ok := r.subjects[subject]
		if !ok {
			s = &subjectRec{}
			r.subjects[subject] = s
		}
		s.Compatibility = mode
	}
	err = r.saveLocked()
	r.mu.Unlock()
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, map[string]compat.Mode{"compatibility": mode})
}

func (r *Registry) hDeleteConfig(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	r.mu.Lock()
	s, ok := r.subjects[subject]
	if !ok || s.Compatibility == "" {
		r.mu.Unlock()
		fail(w, errSubjectNotFound(subject))
		return
	}
	prev := s.Compatibility
	s.Compatibility = ""
	if len(s.Versions) == 0 {
		delete(r.subjects, subject)
	}
	err := r.saveLocked()
	r.mu.Unlock()
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, map[string]compat.Mode{"compatibility": prev})
}

func (r *Registry) hCompat(w http.ResponseWriter, req *http.Request) {
	b, err := readSchema(req)
	if err != nil {
		fail(w, err)
		return
	}
	ok, msgs, err := r.CheckVersion(req.PathValue("subject"), versionParam(req), b.Schema, b.SchemaType, len(b.References))
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, struct {
		Is       bool     `json:"is_compatible"`
		Messages []string `json:"messages"`
	}{ok, msgs})
}

func hMode(w http.ResponseWriter, _ *http.Request) {
	reply(w, map[string]string{"mode": "READWRITE"})
}

func (r *Registry) hDeleteSubject(w http.ResponseWriter, req *http.Request) {
	vs, err := r.deleteSubject(req.PathValue("subject"), queryFlag(req, "permanent"))
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, vs)
}

func (r *Registry) hDeleteVersion(w http.ResponseWriter, req *http.Request) {
	v, err := r.deleteVersion(req.PathValue("subject"), versionParam(req), queryFlag(req, "permanent"))
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, v)
}
