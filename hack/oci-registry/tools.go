//go:build tools

// Package tools pins the registry command `make oci-registry` builds. cmd/registry is
// the package with main, and it already blank-imports the auth (htpasswd, token) and
// storage drivers (filesystem, inmemory, ...) the tests configure.
package tools

import _ "github.com/distribution/distribution/v3/cmd/registry"
