// Package config reads one typed configuration per service from environment
// variables with flag equivalents. Every setting has an env name
// (ISTHMUS_KAFKA_BROKERS), a flag derived from it (--kafka-brokers), a default
// and a usage line; --help lists them all. A bad value fails Parse with one
// line naming the setting; a numeric setting's range is declared with it
// (AtLeast, Between, Positive, BasisPoints) rather than checked by hand, so
// every service words an out-of-range value the same way. Secrets are
// masked when the effective configuration is logged.
//
// Precedence: flag > environment > default.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrHelp is returned by Parse when --help was asked for; the usage has been
// written and the program should exit 0.
var ErrHelp = flag.ErrHelp

// Setting is one configuration value.
type Setting struct {
	Env     string // ISTHMUS_KAFKA_BROKERS
	Flag    string // kafka-brokers
	Default string
	Usage   string
	Secret  bool
	isBool  bool
	parse   func(string) error
	value   string
	source  string // default, env or flag
}

// Set is the collection of settings of one program.
type Set struct {
	program  string
	settings []*Setting
	checks   []func() error
}

// NewSet returns an empty set for program (used in --help).
func NewSet(program string) *Set { return &Set{program: program} }

// Settings is what declares a program's settings: every service's Config.
type Settings interface{ Register(s *Set) }

// ParseMaps declares settings on a new set for program and parses them from
// the maps alone, a later map taking precedence (no flags, not the process
// environment, help to nowhere): tests of a service's settings, and test
// harnesses that run a service in their own process.
func ParseMaps(program string, settings Settings, envs ...map[string]string) error {
	s := NewSet(program)
	settings.Register(s)
	return s.Parse(nil, func(k string) (string, bool) {
		for i := len(envs) - 1; i >= 0; i-- {
			if v, ok := envs[i][k]; ok {
				return v, true
			}
		}
		return "", false
	}, io.Discard)
}

// Unrefused parses each entry of bad (setting → value) alone, into settings
// fresh from newSettings, and returns those not refused with an error naming
// their setting ("invalid NAME"), each as "NAME=value: what happened". Tests
// that a service's settings refuse what has no meaning use it.
func Unrefused(program string, newSettings func() Settings, bad map[string]string) []string {
	var out []string
	for _, env := range slices.Sorted(maps.Keys(bad)) {
		err := ParseMaps(program, newSettings(), map[string]string{env: bad[env]})
		if err == nil {
			out = append(out, fmt.Sprintf("%s=%s: accepted", env, bad[env]))
		} else if msg := err.Error(); !strings.Contains(msg, "invalid "+env+" ") && !strings.Contains(msg, "invalid "+env+":") {
			out = append(out, fmt.Sprintf("%s=%s: refused without naming it: %v", env, bad[env], err))
		}
	}
	return out
}

// FlagName derives a flag name from an env name: ISTHMUS_KAFKA_BROKERS →
// kafka-brokers.
func FlagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "ISTHMUS_")), "_", "-")
}

func (s *Set) add(env, def, usage string, secret bool, parse func(string) error) {
	s.settings = append(s.settings, &Setting{Env: env, Flag: FlagName(env), Default: def, Usage: usage, Secret: secret, parse: parse})
}

// String declares a string setting.
func (s *Set) String(p *string, env, def, usage string) {
	s.add(env, def, usage, false, func(v string) error { *p = v; return nil })
}

// Secret declares a string setting that is masked when logged.
func (s *Set) Secret(p *string, env, usage string) {
	s.add(env, "", usage, true, func(v string) error { *p = v; return nil })
}

// SecretOrFile declares a secret setting env and its companion env_FILE,
// the path of a file holding it (a mounted Kubernetes Secret); surrounding
// whitespace in the file is ignored. Giving both is an error.
func (s *Set) SecretOrFile(p *string, env, usage string) {
	var direct, file string
	s.Secret(&direct, env, usage+" (or "+env+"_FILE)")
	s.String(&file, env+"_FILE", "", "file holding "+env+" (a mounted Secret)")
	s.Check(func() error {
		switch {
		case direct != "" && file != "":
			return fmt.Errorf("invalid %s_FILE: %s is set as well; give one", env, env)
		case file != "":
			b, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("invalid %s_FILE: %v", env, err)
			}
			*p = strings.TrimSpace(string(b))
		default:
			*p = direct
		}
		return nil
	})
}

// Func declares a setting with a custom parser; the parser's error is
// reported with the setting's name.
func (s *Set) Func(env, def, usage string, parse func(string) error) {
	s.add(env, def, usage, false, parse)
}

// Bound restricts a numeric setting: a value outside it fails Parse with
// one line naming the setting, the value and the bound (the one place a
// setting's range is checked and worded).
type Bound struct {
	lo, hi       int64
	hasLo, hasHi bool
}

// AtLeast bounds a setting from below (a duration in nanoseconds).
func AtLeast(n int64) Bound { return Bound{lo: n, hasLo: true} }

// Between bounds a setting on both sides, inclusive.
func Between(lo, hi int64) Bound { return Bound{lo: lo, hi: hi, hasLo: true, hasHi: true} }

// Positive: a duration above zero, an integer of at least 1.
var Positive = AtLeast(1)

// BasisPoints: a share in basis points, 0 to 10000.
var BasisPoints = Between(0, 10000)

// check says why n (a duration in nanoseconds when dur) is outside the
// bounds; nil inside.
func check[T int64 | float64](n T, dur bool, bs []Bound) error {
	show := func(n int64) string { return strconv.FormatInt(n, 10) }
	if dur {
		show = func(n int64) string { return time.Duration(n).String() }
	}
	for _, b := range bs {
		if (!b.hasLo || n >= T(b.lo)) && (!b.hasHi || n <= T(b.hi)) {
			continue
		}
		switch {
		case b.hasHi:
			return fmt.Errorf("must be %s to %s", show(b.lo), show(b.hi))
		case b.lo == 0:
			return errors.New("must be 0 or more")
		case b.lo == 1 && dur:
			return errors.New("must be positive")
		default:
			return fmt.Errorf("must be at least %s", show(b.lo))
		}
	}
	return nil
}

// Int declares an integer setting, within bounds when given.
func (s *Set) Int(p *int, env string, def int, usage string, bounds ...Bound) {
	s.add(env, strconv.Itoa(def), usage, false, func(v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		if err := check(int64(n), false, bounds); err != nil {
			return fmt.Errorf("%d, %v", n, err)
		}
		*p = n
		return nil
	})
}

// Float declares a floating point setting (thresholds, ratios; never
// money), within bounds when given.
func (s *Set) Float(p *float64, env string, def float64, usage string, bounds ...Bound) {
	s.add(env, strconv.FormatFloat(def, 'g', -1, 64), usage, false, func(v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
		if err := check(f, false, bounds); err != nil {
			return fmt.Errorf("%g, %v", f, err)
		}
		*p = f
		return nil
	})
}

// Bool declares a boolean setting.
func (s *Set) Bool(p *bool, env string, def bool, usage string) {
	defer func() { s.settings[len(s.settings)-1].isBool = true }()
	s.add(env, strconv.FormatBool(def), usage, false, func(v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a boolean (true/false)", v)
		}
		*p = b
		return nil
	})
}

// Duration declares a duration setting (Go syntax: 500ms, 30s, 2h), never
// negative and within bounds when given (Positive: above zero).
func (s *Set) Duration(p *time.Duration, env string, def time.Duration, usage string, bounds ...Bound) {
	s.add(env, def.String(), usage, false, func(v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 500ms, 30s, 2h)", v)
		}
		if d < 0 {
			return fmt.Errorf("%q is negative", v)
		}
		if err := check(int64(d), true, bounds); err != nil {
			return fmt.Errorf("%s, %v", d, err)
		}
		*p = d
		return nil
	})
}

// Check adds a cross-setting validation run after all values are parsed.
func (s *Set) Check(f func() error) { s.checks = append(s.checks, f) }

// Parse applies defaults, then the environment (lookup, usually
// os.LookupEnv), then flags from args. It returns ErrHelp after writing the
// usage to out when -h/--help is given.
func (s *Set) Parse(args []string, lookup func(string) (string, bool), out io.Writer) error {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	fs := flag.NewFlagSet(s.program, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flagVals := map[string]*flagValue{}
	for _, st := range s.settings {
		v := &flagValue{isBool: st.isBool}
		flagVals[st.Flag] = v
		fs.Var(v, st.Flag, st.Usage)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			s.Usage(out)
			return ErrHelp
		}
		return fmt.Errorf("%v (see --help)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, st := range s.settings {
		st.value, st.source = st.Default, "default"
		if v, ok := lookup(st.Env); ok {
			st.value, st.source = v, "env"
		}
		if set[st.Flag] {
			st.value, st.source = flagVals[st.Flag].v, "flag"
		}
		if err := st.parse(st.value); err != nil {
			return fmt.Errorf("invalid %s (--%s): %v", st.Env, st.Flag, err)
		}
	}
	for _, c := range s.checks {
		if err := c(); err != nil {
			return err
		}
	}
	return nil
}

// flagValue holds a flag's raw text; boolean settings may be given as a
// bare --flag.
type flagValue struct {
	v      string
	isBool bool
}

func (f *flagValue) String() string     { return f.v }
func (f *flagValue) Set(v string) error { f.v = v; return nil }
func (f *flagValue) IsBoolFlag() bool   { return f.isBool }

// Usage writes every setting with its env name, flag, default and usage.
func (s *Set) Usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s [flags]\n\nEvery setting is an environment variable or its flag (the flag wins).\n\n", s.program)
	for _, st := range s.settings {
		def := st.Default
		if st.Secret {
			def = ""
		}
		fmt.Fprintf(w, "  --%s  (%s)\n        %s", st.Flag, st.Env, st.Usage)
		if def != "" {
			fmt.Fprintf(w, " (default %q)", def)
		}
		fmt.Fprintln(w)
	}
}

// Effective returns the effective settings as env name → value, with secrets
// masked and URL credentials removed, for logging at start.
func (s *Set) Effective() map[string]string {
	out := make(map[string]string, len(s.settings))
	for _, st := range s.settings {
		v := st.value
		switch {
		case st.Secret && v != "":
			v = "****"
		default:
			v = MaskURL(v)
		}
		out[st.Env] = v
	}
	return out
}

// EffectiveAttrs returns Effective as sorted key/value pairs for slog.
func (s *Set) EffectiveAttrs() []any {
	eff := s.Effective()
	keys := make([]string, 0, len(eff))
	for k := range eff {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	attrs := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		attrs = append(attrs, k, eff[k])
	}
	return attrs
}

// MaskURL hides the password in a URL-looking value (redis://u:p@h →
// redis://u:****@h, https://TOKEN@h → https://****@h); other values are
// returned unchanged.
func MaskURL(v string) string {
	i := strings.Index(v, "://")
	if i < 0 {
		return v
	}
	rest := v[i+3:]
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return v
	}
	cred := rest[:at]
	if c := strings.Index(cred, ":"); c >= 0 {
		cred = cred[:c+1] + "****"
	} else {
		cred = "****" // a token alone is a secret too
	}
	return v[:i+3] + cred + rest[at:]
}
