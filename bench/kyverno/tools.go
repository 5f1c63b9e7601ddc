//go:build tools

// Package tools pins Kyverno's admission controller, which bench/admission_latency.py runs
// beside registry-sync's webhook (bench/kyverno/build.sh builds it).
package tools

import _ "github.com/kyverno/kyverno/cmd/kyverno"
