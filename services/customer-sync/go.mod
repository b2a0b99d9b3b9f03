module github.com/isthmus/isthmus/services/customer-sync

go 1.26.0

require (
	github.com/google/go-cmp v0.7.0
	github.com/isthmus/isthmus/pkg v0.0.0
	gopkg.in/yaml.v3 v3.0.1
)

replace github.com/isthmus/isthmus/pkg => ../../pkg
