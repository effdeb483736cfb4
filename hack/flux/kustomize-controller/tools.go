//go:build tools

// Package build pins the command bench/_flux.py builds; nothing here is compiled.
package build

import _ "github.com/fluxcd/kustomize-controller"
