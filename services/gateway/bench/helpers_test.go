package bench

import (
	"runtime"

	pricingv1 "github.com/isthmus/isthmus/pkg/api/isthmus/pricing/v1"
	"github.com/isthmus/isthmus/services/gateway/gateway"
)

func gatewayNoop(resp *pricingv1.PriceQuoteResponse) gateway.Option {
	return gateway.WithPricingService(&noop{resp: resp})
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
