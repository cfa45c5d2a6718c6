// A CoreDNS with the few plugins the real-node test cluster needs: cluster names from the
// API server (kubernetes), a cache, health and readiness, and bind, so that it listens on the
// test node's address only. Nothing forwards upstream: the test node's pods resolve cluster
// names only, and no query leaves the machine.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

func init() {
	// The order plugins see a query in, as CoreDNS's own plugin.cfg orders these.
	dnsserver.Directives = []string{"bind", "errors", "health", "ready", "cache", "kubernetes"}
}

func main() {
	coremain.Run()
}
