//go:build integration && !linux

package quotetoorder_test

import "os/exec"

func setParentDeathSignal(*exec.Cmd) {}
