// gateway: Kubernaut's Gateway on leaseguard, create-or-count. It creates a
// RemediationRequest for an alert's fingerprint; when leaseguard refuses because another
// RemediationRequest holds the fingerprint, it counts this alert on that holder instead
// (status.deduplication.occurrenceCount, with optimistic concurrency). No in-process lock.
//
//	gateway -kubeconfig FILE -namespace NS -fingerprint HEX
//
// It prints one JSON line: what it did, on which object, and how.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"

	"leaseguard.kubernaut.ai/examples/denial"
	"leaseguard.kubernaut.ai/examples/internal/kube"
)

type result struct {
	// "created" (this alert made the RemediationRequest) or "counted" (a duplicate, counted on the holder).
	Result string    `json:"result"`
	Name   string    `json:"name"`
	UID    types.UID `json:"uid"`
	// The occurrence count this process's increment wrote.
	Count int64 `json:"count"`
	// Creates sent (a holder that vanished before it could be counted means one more).
	Attempts int `json:"attempts"`
	// Reads of a pending holder that answered 404 before it was stored.
	PendingNotFound int `json:"pendingNotFound"`
}

type gateway struct {
	rrs         dynamic.NamespaceableResourceInterface
	namespace   string
	fingerprint string
	annotations map[string]string
	maxAttempts int
}

// Several Gateway replicas count on one hot object at once: more steps than
// retry.DefaultRetry (5), with jitter so that losers do not collide again in lockstep.
var countBackoff = wait.Backoff{Steps: 30, Duration: 10 * time.Millisecond, Factor: 1.5, Jitter: 1, Cap: time.Second}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file (default: the usual loading rules)")
	g := gateway{annotations: kube.Annotations{}}
	flag.StringVar(&g.namespace, "namespace", "kubernaut-system", "namespace of the RemediationRequests")
	flag.StringVar(&g.fingerprint, "fingerprint", "", "the alert's fingerprint (64 lowercase hex): the lock key")
	flag.IntVar(&g.maxAttempts, "max-attempts", 5, "creates to try before giving up (a holder can vanish between a denial and its read)")
	flag.Var(kube.Annotations(g.annotations), "annotation", "key=value to set on the created object (repeatable)")
	timeout := flag.Duration("timeout", 2*time.Minute, "give up after this long")
	flag.Parse()
	if len(g.fingerprint) != 64 {
		kube.Fail(errors.New("-fingerprint must be 64 lowercase hex characters"))
	}
	client, err := kube.Client(*kubeconfig)
	if err != nil {
		kube.Fail(err)
	}
	g.rrs = client.Resource(kube.RemediationRequests)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	r, err := g.run(ctx)
	if err != nil {
		kube.Fail(err)
	}
	kube.Report(r)
}

func (g *gateway) run(ctx context.Context) (result, error) {
	var r result
	for r.Attempts < g.maxAttempts {
		r.Attempts++
		created, err := g.rrs.Namespace(g.namespace).Create(ctx, g.remediationRequest(), metav1.CreateOptions{})
		if err == nil {
			// The first occurrence counts too (Kubernaut's occurrenceCount starts at 1).
			r.Result, r.Name, r.UID = "created", created.GetName(), created.GetUID()
			r.Count, err = g.count(ctx, g.namespace, created.GetName(), created.GetUID())
			return r, err
		}
		busy, perr := denial.FromError(err)
		if perr != nil {
			return r, perr
		}
		if busy == nil {
			return r, fmt.Errorf("create RemediationRequest: %w", err)
		}
		if busy.Hidden {
			// The fingerprint is held in another namespace: nothing here to count on.
			return r, fmt.Errorf("fingerprint held outside namespace %s: %s", g.namespace, busy.Message)
		}
		if busy.Namespace == "" {
			return r, fmt.Errorf("%w: no %s cause for a namespaced holder", denial.ErrMalformed, denial.CauseHolderNamespace)
		}
		count, counted, err := g.countOnHolder(ctx, busy, &r)
		if err != nil {
			return r, err
		}
		if counted {
			r.Result, r.Name, r.UID, r.Count = "counted", busy.Name, busy.UID, count
			return r, nil
		}
		// The holder is gone (deleted, or never stored): its key is free, create again.
	}
	return r, fmt.Errorf("gave up after %d creates", r.Attempts)
}

// countOnHolder counts the alert on the denial's holder. A pending holder may not be
// stored yet: its reads answer 404 until it is, at the latest until the denial's
// retryAfterSeconds; after that a 404 means it never will be, and the caller creates again.
func (g *gateway) countOnHolder(ctx context.Context, busy *denial.Busy, r *result) (int64, bool, error) {
	deadline := time.Now().Add(busy.RetryAfter) // measured here: no clock comparison with the server
	delay := 50 * time.Millisecond
	for {
		count, err := g.count(ctx, busy.Namespace, busy.Name, busy.UID)
		switch {
		case err == nil:
			return count, true, nil
		case errors.Is(err, errNotHolder):
			return 0, false, nil
		case !apierrors.IsNotFound(err):
			return 0, false, err
		case !busy.Pending || !time.Now().Before(deadline):
			return 0, false, nil
		}
		r.PendingNotFound++
		select {
		case <-ctx.Done():
			return 0, false, ctx.Err()
		case <-time.After(min(delay, time.Until(deadline))):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// errNotHolder: an object of the holder's name exists, but with another UID.
var errNotHolder = errors.New("not the holder")

// count increments status.deduplication.occurrenceCount of namespace/name if its UID is
// uid, re-reading and retrying when another writer updated it first (409 on update).
func (g *gateway) count(ctx context.Context, namespace, name string, uid types.UID) (int64, error) {
	var count int64
	err := retry.RetryOnConflict(countBackoff, func() error {
		rr, err := g.rrs.Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if rr.GetUID() != uid {
			return errNotHolder
		}
		n, _, err := unstructured.NestedInt64(rr.Object, "status", "deduplication", "occurrenceCount")
		if err != nil {
			return fmt.Errorf("status.deduplication.occurrenceCount: %w", err)
		}
		now := time.Now().UTC().Format(time.RFC3339)
		if n == 0 {
			if err := unstructured.SetNestedField(rr.Object, now, "status", "deduplication", "firstSeenAt"); err != nil {
				return err
			}
		}
		count = n + 1
		if err := unstructured.SetNestedField(rr.Object, count, "status", "deduplication", "occurrenceCount"); err != nil {
			return err
		}
		if err := unstructured.SetNestedField(rr.Object, now, "status", "deduplication", "lastSeenAt"); err != nil {
			return err
		}
		// Sent with the resourceVersion just read: a concurrent count makes this a 409, retried.
		_, err = g.rrs.Namespace(namespace).UpdateStatus(ctx, rr, metav1.UpdateOptions{})
		return err
	})
	return count, err
}

func (g *gateway) remediationRequest() *unstructured.Unstructured {
	now := time.Now().UTC().Format(time.RFC3339)
	host, _ := os.Hostname()
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kubernaut.ai/v1alpha1",
		"kind":       "RemediationRequest",
		"metadata": map[string]any{
			"generateName": "rr-" + g.fingerprint[:12] + "-",
			"namespace":    g.namespace,
			"annotations":  toAny(g.annotations),
		},
		"spec": map[string]any{
			"signalFingerprint": g.fingerprint,
			"signalName":        "HighMemoryUsage",
			"signalType":        "alert",
			"signalSource":      "gateway-example",
			"severity":          "critical",
			"targetType":        "kubernetes",
			"targetResource":    map[string]any{"kind": "Deployment", "name": "api", "namespace": g.namespace},
			"firingTime":        now,
			"receivedTime":      now,
			"clusterID":         host,
		},
	}}
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
