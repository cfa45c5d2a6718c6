// NetworkPolicy enforcement for the real-node test cluster: the controller of
// sigs.k8s.io/kube-network-policies (nftables rules that queue a pod's new connections to this
// process, which judges them against the NetworkPolicies) run on the host with a kubeconfig,
// since its own command only runs in a pod. The bridge CNI plugin enforces no policy itself.
package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "the kubeconfig to read the cluster with")
	nodeName := flag.String("node-name", "", "the node whose pods' traffic this process judges")
	queueID := flag.Int("nfqueue-id", 100, "the nfqueue the nftables rules send packets to")
	tableName := flag.String("nftables-table", "nimbus-netpol", "the nftables table of its rules")
	klog.InitFlags(nil)
	flag.Parse()

	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		klog.Fatalf("reading %s: %v", *kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		klog.Fatalf("a client for %s: %v", config.Host, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	factory := informers.NewSharedInformerFactory(client, 0)
	controller, err := networkpolicy.NewController(
		client,
		factory.Networking().V1().NetworkPolicies(),
		factory.Core().V1().Namespaces(),
		factory.Core().V1().Pods(),
		nil, nil, nil, nil,
		networkpolicy.Config{
			QueueID:             *queueID,
			NodeName:            *nodeName,
			NetfilterBug1766Fix: true,
			NFTableName:         *tableName,
			// containerd 1.6 has no NRI: pod IPs come from the API server.
			NRIdisabled: true,
		},
	)
	if err != nil {
		klog.Fatalf("starting the network policy controller: %v", err)
	}
	factory.Start(ctx.Done())
	// Run removes its nftables table when ctx ends (SIGTERM).
	if err := controller.Run(ctx); err != nil {
		klog.Fatalf("network policy controller: %v", err)
	}
}
