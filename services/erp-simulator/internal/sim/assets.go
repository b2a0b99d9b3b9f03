package sim

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/isthmus/isthmus/pkg/contracts"
	"github.com/isthmus/isthmus/pkg/errs"
	"github.com/isthmus/isthmus/pkg/event"
	"github.com/isthmus/isthmus/pkg/processor"
	"github.com/isthmus/isthmus/services/erp-simulator/traffic"
)

// assetOp is a change of the installed base on TopicAssets: an asset
// installed (Asset set) or returned (Return set), keyed by serial.
type assetOp struct {
	Asset  *contracts.Asset `json:"asset,omitempty"`
	Return string           `json:"return,omitempty"` // return id
	Origin origin           `json:"origin"`
}

func sendAssetOp(m *processor.Message, serial string, op assetOp) error {
	b, err := json.Marshal(op)
	if err != nil {
		return errs.Poison(errs.ReasonStateEncode, err)
	}
	m.Emit(TopicAssets, serial, b, op.Origin.headers()...)
	return nil
}

// installAsset sends a shipped unit to its serial's partition.
func installAsset(m *processor.Message, a *contracts.Asset, o origin) error {
	return sendAssetOp(m, a.Serial, assetOp{Asset: a, Origin: o})
}

// returnAsset sends a received unit to its serial's partition.
func returnAsset(m *processor.Message, serial, returnID string, o origin) error {
	return sendAssetOp(m, serial, assetOp{Return: returnID, Origin: o})
}

// assetChange applies an installed-base change on the serial's partition
// and publishes the asset on erp.asset.v1. A return of a serial the
// installed base does not have changes nothing.
func (s *Sim) assetChange(m *processor.Message) error {
	var op assetOp
	if err := json.Unmarshal(m.Record.Value, &op); err != nil {
		return errs.Poison(errs.ReasonAssetOp, err)
	}
	serial := m.Key()
	var a contracts.Asset
	switch {
	case op.Asset != nil:
		a = *op.Asset
	case op.Return != "":
		cur, found, err := installedBase.Get(m, serial)
		if err != nil || !found || cur.Status == contracts.AssetStatusReturned {
			return err
		}
		a = cur
		a.Status = contracts.AssetStatusReturned
		a.Metadata = s.meta("asset", serial, "return-"+op.Return, op.Origin, contracts.SourceSystemERP)
	default:
		return errs.Poisonf(errs.ReasonAssetOp, "asset change for %s names neither an asset nor a return", serial)
	}
	if err := installedBase.Put(m, serial, a); err != nil {
		return err
	}
	stamp(&a, m.Record.Timestamp)
	return m.EmitValue(contracts.TopicERPAssetV1, serial, &a, op.Origin.headers()...)
}

// Installed-base behaviour of the simulated ERP.
const (
	// maxAssetsPerLine bounds the serial numbers one order line adds.
	maxAssetsPerLine = 10
	// serviceContractEvery: one shipped line in this many comes with a
	// three-year ERP service contract (chosen by the order and line, so a
	// replay chooses alike).
	serviceContractEvery = 4
	serviceContractYears = 3
)

var warrantyTypes = []string{contracts.ServiceTypeRepair, contracts.ServiceTypeParts}

var contractTypes = []string{contracts.ServiceTypeRepair, contracts.ServiceTypeParts, contracts.ServiceTypePreventiveMaintenance, contracts.ServiceTypeInspection}

// assets are the installed-base records of a shipment: one per unit of
// every accepted line of a serialised SKU, owned by the ship-to customer,
// installed on the shipping day with the product's warranty from then.
func (s *Sim) assets(st *orderState, now time.Time) []*contracts.Asset {
	day := now.UTC().Truncate(24 * time.Hour)
	owner := st.Cmd.ERPCustomerID
	if st.Cmd.ShipToERPCustomerID != nil && *st.Cmd.ShipToERPCustomerID != "" {
		owner = *st.Cmd.ShipToERPCustomerID
	}
	var out []*contracts.Asset
	for _, ld := range st.Decision.Lines {
		p, _ := traffic.ProductBySKU(ld.Line.SKU) // serialised products carry their warranty
		months := p.WarrantyMonths
		if ld.Reason != "" || months == 0 {
			continue
		}
		lineID := fmt.Sprintf("%s%s/%d", st.Cmd.OrderID, revisionSuffix(&st.Cmd), ld.Line.LineNumber)
		var sc *contracts.ServiceContractCoverage
		h := fnv.New32a()
		h.Write([]byte(lineID))
		if h.Sum32()%serviceContractEvery == 0 {
			hours := 24
			sc = &contracts.ServiceContractCoverage{
				ContractID: "SC-" + strings.ToUpper(strings.ReplaceAll(event.ID("service-contract", lineID), "-", "")[:10]),
				StartDate:  day, EndDate: day.AddDate(serviceContractYears, 0, -1),
				ServiceTypes: contractTypes, ResponseHours: &hours,
			}
		}
		name := ld.Line.SKU
		for unit := range min(ld.Line.Quantity, maxAssetsPerLine) {
			serial := "SN-" + strings.ToUpper(strings.ReplaceAll(event.ID("asset", lineID, fmt.Sprint(unit)), "-", "")[:12])
			provider := "Isthmus Manufacturing"
			out = append(out, &contracts.Asset{
				Metadata:      s.meta("asset", serial, "install", st.Origin, contracts.SourceSystemERP),
				Serial:        serial,
				SKU:           ld.Line.SKU,
				ProductName:   &name,
				ERPCustomerID: owner,
				Status:        contracts.AssetStatusInstalled,
				InstallDate:   day,
				Site:          &ld.Line.ShipToCountry,
				Warranty: &contracts.WarrantyCoverage{StartDate: day, EndDate: day.AddDate(0, months, -1),
					ServiceTypes: warrantyTypes, Provider: &provider},
				ServiceContract: sc,
			})
		}
	}
	return out
}
