package deployment

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/kubectl/pkg/polymorphichelpers"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/controller/replicaset"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

// eventLog is an EventRecorder that keeps "Type Reason Message" lines.
type eventLog struct {
	mu    sync.Mutex
	lines []string
}

var _ record.EventRecorder = (*eventLog)(nil)

func (e *eventLog) Event(_ runtime.Object, typ, reason, msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lines = append(e.lines, typ+" "+reason+" "+msg)
}
func (e *eventLog) Eventf(o runtime.Object, typ, reason, format string, args ...any) {
	e.Event(o, typ, reason, fmt.Sprintf(format, args...))
}
func (e *eventLog) AnnotatedEventf(o runtime.Object, _ map[string]string, typ, reason, format string, args ...any) {
	e.Eventf(o, typ, reason, format, args...)
}

func (e *eventLog) has(line string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, l := range e.lines {
		if l == line {
			return true
		}
	}
	return false
}

// rig runs the Deployment and ReplicaSet controllers against a real
// in-process API server; pods are never scheduled, the test plays the
// kubelet where readiness matters.
type rig struct {
	client kubernetes.Interface
	ns     string
	events *eventLog
}

func startRig(t *testing.T, clk clock.WithTicker) *rig {
	t.Helper()
	s := servertest.Start(t, servertest.Options{})
	if clk == nil {
		clk = clock.RealClock{}
	}
	r := &rig{client: s.Client, ns: "test", events: &eventLog{}}
	factory := informers.NewSharedInformerFactory(s.Client, 0)
	cc := controller.Context{
		Client:    s.Client,
		Informers: factory,
		Recorder: func(component string) record.EventRecorder {
			if component == "deployment-controller" {
				return r.events
			}
			return &record.FakeRecorder{}
		},
		Clock: clk,
	}
	dc, err := New(cc)
	if err != nil {
		t.Fatal(err)
	}
	rsc, err := replicaset.NewReplicaSetController(cc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{dc.Run, rsc.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		factory.Shutdown()
	})
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return r
}

func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (last: %v)", what, last)
}

func newDeployment(name string, replicas int32, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxSurge: ptr.To(intstr.FromString("25%")), MaxUnavailable: ptr.To(intstr.FromString("25%"))}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
			},
		},
	}
}

func (r *rig) create(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	if _, err := r.client.AppsV1().Deployments(r.ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) get(t *testing.T, name string) *appsv1.Deployment {
	t.Helper()
	d, err := r.client.AppsV1().Deployments(r.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// update applies change to the stored Deployment, retrying conflicts.
func (r *rig) update(t *testing.T, name string, change func(*appsv1.Deployment)) {
	t.Helper()
	for range 20 {
		d := r.get(t, name)
		change(d)
		_, err := r.client.AppsV1().Deployments(r.ns).Update(context.Background(), d, metav1.UpdateOptions{})
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatal(err)
		}
	}
	t.Fatalf("could not update deployment %s", name)
}

func setImage(image string) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = image }
}

// rolloutStatus is what `kubectl rollout status` would say, from kubectl's
// own status viewer.
func (r *rig) rolloutStatus(t *testing.T, name string) (string, bool, error) {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(r.get(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return (&polymorphichelpers.DeploymentStatusViewer{}).Status(&unstructured.Unstructured{Object: m}, 0)
}

func (r *rig) waitRolledOut(t *testing.T, name string) {
	t.Helper()
	eventually(t, "rollout of "+name, func() (bool, error) {
		msg, done, err := r.rolloutStatus(t, name)
		if err != nil {
			return false, err
		}
		return done, fmt.Errorf("%s", strings.TrimSpace(msg))
	})
}

func (r *rig) replicaSets(t *testing.T) []appsv1.ReplicaSet {
	t.Helper()
	l, err := r.client.AppsV1().ReplicaSets(r.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func (r *rig) livePods(t *testing.T) []corev1.Pod {
	t.Helper()
	l, err := r.client.CoreV1().Pods(r.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// runKubelet marks every new pod accepted by readyIf as Running and
// Ready, as a kubelet would once its containers pass readiness.
func (r *rig) runKubelet(t *testing.T, readyIf func(*corev1.Pod) bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := r.client.CoreV1().Pods(r.ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		defer w.Stop()
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type != watch.Added || p.DeletionTimestamp != nil || !readyIf(p) {
				continue
			}
			// A little start-up time, so rollouts interleave.
			time.Sleep(5 * time.Millisecond)
			r.markReady(ctx, p.Name)
		}
	}()
}

func (r *rig) markReady(ctx context.Context, name string) {
	for range 10 {
		p, err := r.client.CoreV1().Pods(r.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return // deleted meanwhile
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		if _, err = r.client.CoreV1().Pods(r.ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
			return
		}
	}
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podWatch follows every pod (not being deleted) and lets a test check an
// invariant after each event.
type podWatch struct {
	mu   sync.Mutex
	pods map[string]*corev1.Pod
	errs []string
}

func (r *rig) watchPods(t *testing.T, check func(pods map[string]*corev1.Pod) error) *podWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := r.client.CoreV1().Pods(r.ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pw := &podWatch{pods: map[string]*corev1.Pod{}}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		defer w.Stop()
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			pw.mu.Lock()
			if ev.Type == watch.Deleted || p.DeletionTimestamp != nil {
				delete(pw.pods, p.Name)
			} else {
				pw.pods[p.Name] = p
			}
			if err := check(pw.pods); err != nil && len(pw.errs) < 10 {
				pw.errs = append(pw.errs, err.Error())
			}
			pw.mu.Unlock()
		}
	}()
	return pw
}

func (pw *podWatch) violations() []string {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return append([]string(nil), pw.errs...)
}

// watchProgressReasons records every Progressing reason the Deployment
// shows, in order.
func (r *rig) watchProgressReasons(t *testing.T, name string) func() []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := r.client.AppsV1().Deployments(r.ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var reasons []string
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		defer w.Stop()
		for ev := range w.ResultChan() {
			d, ok := ev.Object.(*appsv1.Deployment)
			if !ok || d.Name != name {
				continue
			}
			if c := getCondition(d.Status, appsv1.DeploymentProgressing); c != nil {
				mu.Lock()
				if len(reasons) == 0 || reasons[len(reasons)-1] != c.Reason {
					reasons = append(reasons, c.Reason)
				}
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), reasons...)
	}
}
