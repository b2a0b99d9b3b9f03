module github.com/isthmus/isthmus/cmd/isthmus

go 1.26.0

require github.com/isthmus/isthmus/pkg v0.0.0

require (
	github.com/go-viper/mapstructure/v2 v2.5.0 // indirect
	github.com/golang-jwt/jwt/v5 v5.3.1 // indirect
	github.com/hamba/avro/v2 v2.31.0 // indirect
	github.com/json-iterator/go v1.1.12 // indirect
	github.com/modern-go/concurrent v0.0.0-20180306012644-bacd9c7ef1dd // indirect
	github.com/modern-go/reflect2 v1.0.2 // indirect
	github.com/twmb/franz-go/pkg/kadm v1.20.0 // indirect
	github.com/twmb/franz-go/pkg/sr v1.8.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

require (
	github.com/alicebob/miniredis/v2 v2.40.0 // indirect
	github.com/isthmus/isthmus/services/billing-bridge v0.0.0
	github.com/isthmus/isthmus/services/customer-sync v0.0.0
	github.com/isthmus/isthmus/services/erp-simulator v0.0.0
	github.com/isthmus/isthmus/services/gateway v0.0.0
	github.com/isthmus/isthmus/services/quote-to-order v0.0.0
	github.com/isthmus/isthmus/services/reconciler v0.0.0
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/twmb/franz-go v1.22.3 // indirect
	github.com/twmb/franz-go/pkg/kfake v0.0.0-20260918054303-01f206a7e32c // indirect
	github.com/twmb/franz-go/pkg/kmsg v1.15.1 // indirect
	github.com/yuin/gopher-lua v1.1.1 // indirect
)

replace github.com/isthmus/isthmus/pkg => ../../pkg

replace github.com/isthmus/isthmus/services/billing-bridge => ../../services/billing-bridge

replace github.com/isthmus/isthmus/services/customer-sync => ../../services/customer-sync

replace github.com/isthmus/isthmus/services/erp-simulator => ../../services/erp-simulator

replace github.com/isthmus/isthmus/services/quote-to-order => ../../services/quote-to-order

replace github.com/isthmus/isthmus/services/reconciler => ../../services/reconciler

replace github.com/isthmus/isthmus/services/gateway => ../../services/gateway
