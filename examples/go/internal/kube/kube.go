// Package kube holds what both examples share: a dynamic client from a kubeconfig, the
// guarded kinds' resources, and a one-line JSON report for whoever runs them (the tests).
package kube

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
)

// Kubernaut's CRDs (kubernaut.ai/v1alpha1); their Go types are not needed with a dynamic client.
var (
	RemediationRequests = schema.GroupVersionResource{Group: "kubernaut.ai", Version: "v1alpha1", Resource: "remediationrequests"}
	WorkflowExecutions  = schema.GroupVersionResource{Group: "kubernaut.ai", Version: "v1alpha1", Resource: "workflowexecutions"}
)

// Client builds a dynamic client from a kubeconfig file (empty: the usual loading rules,
// in-cluster included).
func Client(kubeconfig string) (dynamic.Interface, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	// A storm of replicas on one machine: client-go's default 5 QPS would be the bottleneck.
	cfg.QPS, cfg.Burst = 50, 100
	return dynamic.NewForConfig(cfg)
}

// Annotations is a repeatable -annotation key=value flag.
type Annotations map[string]string

func (a Annotations) String() string { return fmt.Sprint(map[string]string(a)) }

func (a Annotations) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", v)
	}
	a[k] = val
	return nil
}

// Report writes v as one JSON line on stdout.
func Report(v any) {
	if err := json.NewEncoder(os.Stdout).Encode(v); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

// Fail prints err and exits non-zero.
func Fail(err error) {
	fmt.Fprintln(os.Stderr, "error:", err)
	os.Exit(1)
}
