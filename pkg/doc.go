// Package pkg is the root of Isthmus' shared libraries: configuration,
// logging, the transactional processor runtime, serde, contracts and test
// infrastructure. Services import the sub-packages; pkg never imports a
// service.
package pkg
