module github.com/isthmus/isthmus/services/gateway

go 1.26.0

require github.com/isthmus/isthmus/pkg v0.0.0

replace github.com/isthmus/isthmus/pkg => ../../pkg
