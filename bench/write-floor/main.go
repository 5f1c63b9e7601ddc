// Command write-floor makes the writes of a plan with client-go and nothing else: the
// physical floor of the scale benchmark (bench/scale.py). Per InferenceService of the plan
// it makes, in this order, the three writes registry-sync and the bare Kopf operator make:
// a merge patch of the labels (against the resource version listed), the ModelBinding's
// creation, and a merge patch of its status. Different InferenceServices go out
// concurrently (--workers); one InferenceService's writes stay in order.
//
// The plan (written by bench/scale.py) is a JSON list of
// {"name", "labels", "resourceVersion", "binding", "status"}. No rate limit on the client:
// the floor is what the apiserver takes, not client-go's default of 5 requests per second.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
)

var (
	inferenceServices = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}
	modelBindings     = schema.GroupVersionResource{Group: "registry-sync.io", Version: "v1alpha1", Resource: "modelbindings"}
)

type step struct {
	Name            string            `json:"name"`
	Labels          map[string]string `json:"labels"`
	ResourceVersion string            `json:"resourceVersion"`
	Binding         map[string]any    `json:"binding"`
	Status          map[string]any    `json:"status"`
}

func main() {
	namespace := flag.String("namespace", "", "the namespace of the plan's objects")
	planFile := flag.String("plan", "", "the plan (JSON) written by bench/scale.py")
	workers := flag.Int("workers", 32, "InferenceServices written concurrently")
	flag.Parse()
	if *namespace == "" || *planFile == "" || *workers < 1 {
		fmt.Fprintln(os.Stderr, "write-floor: --namespace and --plan are required, --workers >= 1")
		os.Exit(2)
	}
	if err := run(*namespace, *planFile, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "write-floor:", err)
		os.Exit(1)
	}
}

func run(namespace, planFile string, workers int) error {
	raw, err := os.ReadFile(planFile)
	if err != nil {
		return err
	}
	var plan []step
	if err := json.Unmarshal(raw, &plan); err != nil {
		return fmt.Errorf("%s: %w", planFile, err)
	}
	// KUBECONFIG, as the operators the floor stands beside.
	config, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{},
	).ClientConfig()
	if err != nil {
		return err
	}
	config.QPS = -1 // no client-side rate limit
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return err
	}
	fmt.Printf("write-floor: %d InferenceServices, %d workers\n", len(plan), workers)
	started := time.Now()
	jobs := make(chan step)
	failures := make(chan error, len(plan))
	var done sync.WaitGroup
	for range workers {
		done.Add(1)
		go func() {
			defer done.Done()
			for job := range jobs {
				if err := write(context.Background(), client, namespace, job); err != nil {
					failures <- fmt.Errorf("%s: %w", job.Name, err)
				}
			}
		}()
	}
	for _, job := range plan {
		jobs <- job
	}
	close(jobs)
	done.Wait()
	close(failures)
	failed := 0
	for err := range failures {
		failed++
		fmt.Fprintln(os.Stderr, "write-floor:", err)
	}
	fmt.Printf("write-floor: written in %.2f s, %d failed\n", time.Since(started).Seconds(), failed)
	if failed > 0 {
		return fmt.Errorf("%d of %d InferenceServices not written", failed, len(plan))
	}
	return nil
}

func write(ctx context.Context, client dynamic.Interface, namespace string, job step) error {
	labels, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"labels": job.Labels, "resourceVersion": job.ResourceVersion},
	})
	if err != nil {
		return err
	}
	isvcs := client.Resource(inferenceServices).Namespace(namespace)
	if _, err := isvcs.Patch(ctx, job.Name, types.MergePatchType, labels, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("patching labels: %w", err)
	}
	bindings := client.Resource(modelBindings).Namespace(namespace)
	if _, err := bindings.Create(ctx, &unstructured.Unstructured{Object: job.Binding}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the ModelBinding: %w", err)
	}
	status, err := json.Marshal(map[string]any{"status": job.Status})
	if err != nil {
		return err
	}
	if _, err := bindings.Patch(ctx, job.Name, types.MergePatchType, status, metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("patching the ModelBinding's status: %w", err)
	}
	return nil
}
