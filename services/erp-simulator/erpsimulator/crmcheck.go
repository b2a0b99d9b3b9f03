package erpsimulator

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	customerv1 "github.com/isthmus/isthmus/pkg/api/isthmus/customer/v1"
	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/metrics"
	"github.com/isthmus/isthmus/services/erp-simulator/traffic"
)

// DuplicateCheckScopes are the scopes asked for when ISTHMUS_OAUTH_SCOPE is
// unset: the one gateway method the simulated CRM calls.
var DuplicateCheckScopes = []string{"customer:read"}

var duplicateChecks = metrics.Register(metrics.Registry, prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "isthmus_sim_crm_duplicate_checks_total",
	Help: "Duplicate checks the simulated CRM made before saving an account, by outcome: prevented (an existing account was used), saved (no duplicate or only a probable one), error (gateway unavailable: the account was saved).",
}, []string{"outcome"}))

// duplicateCheck is the simulated CRM's call to the gateway's CheckDuplicate
// before it saves a new account: a DUPLICATE verdict whose best candidate
// holds a CRM account names that account, so the rep uses it; anything else
// (no duplicate, a probable duplicate left to customer-sync's stewards, the
// gateway unavailable or slower than timeout) saves the account.
func duplicateCheck(conn grpc.ClientConnInterface, timeout time.Duration, log *slog.Logger) traffic.DuplicateCheck {
	c := customerv1.NewCustomerServiceClient(conn)
	var lastErr time.Time
	return func(a *contracts.Account) string {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		r, err := c.CheckDuplicate(ctx, &customerv1.CheckDuplicateRequest{Account: checkAccount(a), MaxCandidates: 3})
		if err != nil {
			duplicateChecks.WithLabelValues("error").Inc()
			if time.Since(lastErr) > 30*time.Second {
				lastErr = time.Now()
				log.Warn("duplicate check failed; the account is saved unchecked", "account_id", a.AccountID, "err", err)
			}
			return ""
		}
		if r.GetVerdict() == customerv1.Verdict_VERDICT_DUPLICATE {
			for _, cand := range r.GetCandidates() {
				if ids := cand.GetCrmAccountIds(); len(ids) > 0 {
					duplicateChecks.WithLabelValues("prevented").Inc()
					log.Debug("duplicate prevented", "account_id", a.AccountID, "existing", ids[0], "golden_id", cand.GetGoldenId(), "score", cand.GetScore())
					return ids[0]
				}
			}
		}
		duplicateChecks.WithLabelValues("saved").Inc()
		return ""
	}
}

// checkAccount is what the CRM form holds when the rep presses save.
func checkAccount(a *contracts.Account) *customerv1.Account {
	out := &customerv1.Account{Name: a.Name, LegalName: contracts.Deref(a.LegalName), TaxId: contracts.Deref(a.TaxID), Domain: contracts.Deref(a.Website), Phone: contracts.Deref(a.Phone)}
	if b := a.BillingAddress; b != nil {
		out.Address = &customerv1.Address{Line1: b.Line1, Line2: contracts.Deref(b.Line2), City: b.City, Region: contracts.Deref(b.Region), PostalCode: contracts.Deref(b.PostalCode), Country: b.Country}
	}
	return out
}
