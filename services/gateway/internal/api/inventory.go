package api

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/isthmus/isthmus/pkg/api/isthmus/inventory/v1"
	"github.com/isthmus/isthmus/services/gateway/internal/inventory"
	"github.com/isthmus/isthmus/services/gateway/internal/readmodel"
)

// Availability implements isthmus.inventory.v1.AvailabilityService.
type Availability struct {
	inventoryv1.UnimplementedAvailabilityServiceServer
	*Deps
}

// Check answers available-to-promise.
func (a *Availability) Check(ctx context.Context, r *inventoryv1.CheckRequest) (*inventoryv1.CheckResponse, error) {
	var v violations
	checkID(&v, "sku", r.GetSku())
	checkID(&v, "site", r.GetSite())
	if r.GetQuantity() < 1 || r.GetQuantity() > maxQty {
		v.add("quantity", "must be between 1 and 1000000000")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	vals, err := a.values(ctx, readmodel.Lookup{Model: readmodel.Inventory, Fields: []string{inventory.Key(r.GetSku(), r.GetSite())}})
	if err != nil {
		return nil, err
	}
	l := as[inventory.Level](vals[0][0])
	if l == nil {
		return nil, status.Errorf(codes.NotFound, "no stock record for SKU %s at site %s", r.GetSku(), r.GetSite())
	}
	ans, err := inventory.Check(*l, r.GetQuantity())
	if err != nil {
		return nil, fieldErr("quantity", err.Error())
	}
	return &inventoryv1.CheckResponse{
		Sku: l.SKU, Site: l.Site, OnHand: l.OnHand, Allocated: l.Allocated, OnOrder: l.OnOrder,
		AvailableToPromise: ans.AvailableToPromise, Available: ans.Available, Freshness: freshness(l.AsOf, a.now()),
	}, nil
}
