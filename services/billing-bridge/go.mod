module github.com/isthmus/isthmus/services/billing-bridge

go 1.26.0

require github.com/isthmus/isthmus/pkg v0.0.0

require (
	github.com/google/go-cmp v0.7.0
	github.com/twmb/franz-go v1.22.3
	github.com/twmb/franz-go/pkg/sr v1.8.0
)

replace github.com/isthmus/isthmus/pkg => ../../pkg
