// orchestrator: Kubernaut's RemediationOrchestrator on leaseguard, create-or-requeue. It
// creates one WorkflowExecution per remediation target; when leaseguard refuses because
// the target is busy (another WorkflowExecution holds it), it requeues the target on a
// delaying work queue, after the denial's retryAfterSeconds when it gives one (a pending
// holder) and after -requeue-after otherwise: never a hot loop. No in-process lock.
//
//	orchestrator -kubeconfig FILE -namespace NS -targets ns/Deployment/a,ns/Deployment/b
//
// It prints one JSON line: what it created, and every requeue with its delay.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/workqueue"

	"leaseguard.kubernaut.ai/examples/denial"
	"leaseguard.kubernaut.ai/examples/internal/kube"
)

type requeue struct {
	Target  string `json:"target"`
	Pending bool   `json:"pending"`
	// details.retryAfterSeconds of the denial (0: none given).
	RetryAfterSeconds int `json:"retryAfterSeconds"`
	// The delay asked of the queue, and how long the target actually waited.
	DelayMs  int64 `json:"delayMs"`
	WaitedMs int64 `json:"waitedMs"`
}

type report struct {
	Created  map[string]string `json:"created"` // target -> WorkflowExecution name
	Requeues []requeue         `json:"requeues"`
	// Targets still busy after -max-requeues requeues (a real controller keeps requeueing).
	StillBusy []string `json:"stillBusy"`
}

type orchestrator struct {
	wes          dynamic.NamespaceableResourceInterface
	namespace    string
	replica      string
	annotations  map[string]string
	requeueAfter time.Duration
	maxRequeues  int

	mu        sync.Mutex
	report    report
	requeued  map[string]int
	queuedAt  map[string]time.Time
	lastDelay map[string]int // target -> index in report.Requeues of its latest requeue
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file (default: the usual loading rules)")
	o := orchestrator{annotations: kube.Annotations{}, requeued: map[string]int{}, queuedAt: map[string]time.Time{}, lastDelay: map[string]int{}}
	o.report.Created = map[string]string{}
	flag.StringVar(&o.namespace, "namespace", "kubernaut-system", "namespace of the WorkflowExecutions")
	flag.StringVar(&o.replica, "replica", "0", "this replica's name, part of the objects' names")
	targets := flag.String("targets", "", "comma-separated remediation targets (namespace/Kind/name)")
	flag.DurationVar(&o.requeueAfter, "requeue-after", 30*time.Second, "requeue delay when the denial gives no retryAfterSeconds (a stored holder)")
	flag.IntVar(&o.maxRequeues, "max-requeues", 3, "requeues per target before this run stops trying it")
	flag.Var(kube.Annotations(o.annotations), "annotation", "key=value to set on created objects (repeatable)")
	workers := flag.Int("workers", 2, "concurrent workers")
	timeout := flag.Duration("timeout", 3*time.Minute, "give up after this long")
	flag.Parse()
	if *targets == "" {
		kube.Fail(errors.New("-targets is required"))
	}
	client, err := kube.Client(*kubeconfig)
	if err != nil {
		kube.Fail(err)
	}
	o.wes = client.Resource(kube.WorkflowExecutions)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := o.run(ctx, strings.Split(*targets, ","), *workers); err != nil {
		kube.Fail(err)
	}
	kube.Report(o.report)
}

func (o *orchestrator) run(ctx context.Context, targets []string, workers int) error {
	queue := workqueue.NewTypedDelayingQueue[string]()
	var pending sync.WaitGroup // targets not yet finished (created, or given up)
	for _, t := range targets {
		pending.Add(1)
		o.queuedAt[t] = time.Now()
		queue.Add(t)
	}
	go func() { pending.Wait(); queue.ShutDown() }()
	errs := make(chan error, workers)
	var done sync.WaitGroup
	for range workers {
		done.Add(1)
		go func() {
			defer done.Done()
			for {
				target, shutdown := queue.Get()
				if shutdown {
					return
				}
				finished, err := o.reconcile(ctx, queue, target)
				queue.Done(target)
				if err != nil {
					errs <- fmt.Errorf("target %s: %w", target, err)
					queue.ShutDown()
					return
				}
				if finished {
					pending.Done()
				}
			}
		}()
	}
	done.Wait()
	close(errs)
	return <-errs
}

// reconcile creates the target's WorkflowExecution or requeues it; true when the target is finished.
func (o *orchestrator) reconcile(ctx context.Context, queue workqueue.TypedDelayingInterface[string], target string) (bool, error) {
	o.mu.Lock()
	if i, ok := o.lastDelay[target]; ok {
		o.report.Requeues[i].WaitedMs = time.Since(o.queuedAt[target]).Milliseconds()
	}
	o.mu.Unlock()
	created, err := o.wes.Namespace(o.namespace).Create(ctx, o.workflowExecution(target), metav1.CreateOptions{})
	if err == nil {
		o.mu.Lock()
		o.report.Created[target] = created.GetName()
		o.mu.Unlock()
		return true, nil
	}
	busy, perr := denial.FromError(err)
	if perr != nil {
		return false, perr
	}
	if busy == nil {
		return false, fmt.Errorf("create WorkflowExecution: %w", err)
	}
	// ResourceBusy: someone else's WorkflowExecution runs on this target. Wait as long as
	// the denial says (a pending holder is stored or gone by then), else the usual interval.
	delay := o.requeueAfter
	if busy.Pending {
		delay = busy.RetryAfter
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.requeued[target] >= o.maxRequeues {
		o.report.StillBusy = append(o.report.StillBusy, target)
		return true, nil
	}
	o.requeued[target]++
	r := requeue{Target: target, Pending: busy.Pending, RetryAfterSeconds: int(busy.RetryAfter / time.Second), DelayMs: delay.Milliseconds()}
	o.report.Requeues = append(o.report.Requeues, r)
	o.lastDelay[target] = len(o.report.Requeues) - 1
	o.queuedAt[target] = time.Now()
	queue.AddAfter(target, delay)
	return false, nil
}

func (o *orchestrator) workflowExecution(target string) *unstructured.Unstructured {
	// One name per replica and target, as the orchestrator derives it from its request.
	sum := sha256.Sum256([]byte(target))
	name := fmt.Sprintf("we-%s-%s", o.replica, hex.EncodeToString(sum[:])[:10])
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kubernaut.ai/v1alpha1",
		"kind":       "WorkflowExecution",
		"metadata":   map[string]any{"name": name, "namespace": o.namespace, "annotations": toAny(o.annotations)},
		"spec": map[string]any{
			"targetResource":        target,
			"executionEngine":       "job",
			"remediationRequestRef": map[string]any{"apiVersion": "kubernaut.ai/v1alpha1", "kind": "RemediationRequest", "name": "rr-" + name, "namespace": o.namespace},
			"workflowRef":           map[string]any{"workflowId": "restart-deployment", "version": "v1", "executionBundle": "registry.example/wf@sha256:0"},
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
