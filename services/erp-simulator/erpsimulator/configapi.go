package erpsimulator

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	"github.com/isthmus/isthmus/services/erp-simulator/internal/erp"
)

// ERP configuration on the admin server: how an operator (or a test) makes
// the fix that lets a rejected order through when it is retried.
//
//	GET    /erp/config                        {"export_restricted": [...], "tax_missing": [...]}
//	POST   /erp/export-licences/{country}     grant a licence: lines to country are no longer rejected
//	DELETE /erp/export-licences/{country}     withdraw it: country is export-controlled again
//	POST   /erp/tax-configuration/{code}      configure tax for a region or country
//	DELETE /erp/tax-configuration/{code}      remove it
//
// Changes apply to orders decided afterwards (new orders and new revisions
// of rejected ones); they live in memory and start again from
// ISTHMUS_SIM_EXPORT_RESTRICTED and ISTHMUS_SIM_TAX_MISSING on restart.
func configAPI(live *erp.Live, log *slog.Logger) map[string]http.Handler {
	code := regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{1,15}$`)
	show := func(w http.ResponseWriter) {
		restricted, missing := live.Snapshot()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string][]string{"export_restricted": restricted, "tax_missing": missing})
	}
	change := func(what string, f func(string) bool) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := r.PathValue("code")
			if !code.MatchString(c) {
				http.Error(w, fmt.Sprintf("%q is not a country or region code (2-16 letters, digits, '-')", c), http.StatusBadRequest)
				return
			}
			changed := f(c)
			log.Info("erp configuration changed", "change", what, "code", strings.ToUpper(c), "changed", changed)
			show(w)
		})
	}
	return map[string]http.Handler{
		"GET /erp/config":                      http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { show(w) }),
		"POST /erp/export-licences/{code}":     change("grant export licence", live.GrantLicence),
		"DELETE /erp/export-licences/{code}":   change("withdraw export licence", live.RestrictExport),
		"POST /erp/tax-configuration/{code}":   change("configure tax", live.ConfigureTax),
		"DELETE /erp/tax-configuration/{code}": change("remove tax configuration", live.RemoveTax),
	}
}
