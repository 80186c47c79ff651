package localprovisioner

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/skiff-sh/skiff/internal/controller"
	"github.com/skiff-sh/skiff/internal/server/servertest"
)

func start(t *testing.T, baseDir string) kubernetes.Interface {
	t.Helper()
	s := servertest.Start(t, servertest.Options{})
	factory := informers.NewSharedInformerFactory(s.Client, 0)
	c, err := New(controller.Context{
		Client: s.Client, Informers: factory, Clock: clock.RealClock{},
		Recorder: func(string) record.EventRecorder { return record.NewFakeRecorder(100) },
	}, Config{BaseDir: baseDir})
	if err != nil {
		t.Fatal(err)
	}
	cleaner, err := NewNodeCleaner(s.Client, "node1", baseDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- c.Run(ctx) }()
	go func() { done <- cleaner.Run(ctx) }()
	factory.Start(ctx.Done())
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
		factory.Shutdown()
	})
	return s.Client
}

func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last error: %v)", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func claim(name, class string, size string, ann map[string]string) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Annotations: ann},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}},
	}
	if class != "" {
		pvc.Spec.StorageClassName = ptr.To(class)
	}
	return pvc
}

func boundClaim(t *testing.T, client kubernetes.Interface, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	var pvc *corev1.PersistentVolumeClaim
	eventually(t, "claim "+name+" bound", func() (bool, error) {
		var err error
		pvc, err = client.CoreV1().PersistentVolumeClaims("default").Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && pvc.Status.Phase == corev1.ClaimBound && pvc.Spec.VolumeName != "", err
	})
	return pvc
}

func TestProvisionOnPodNodeAndReclaim(t *testing.T) {
	base := t.TempDir()
	client := start(t, base)
	ctx := context.Background()
	eventually(t, "default storage class", func() (bool, error) {
		sc, err := client.StorageV1().StorageClasses().Get(ctx, DefaultClassName, metav1.GetOptions{})
		return err == nil && sc.Provisioner == ProvisionerName && sc.Annotations[annDefaultClass] == "true" &&
			*sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer, err
	})
	if _, err := client.CoreV1().PersistentVolumeClaims("default").Create(ctx, claim("data", "", "1Gi", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "default class assigned", func() (bool, error) {
		pvc, err := client.CoreV1().PersistentVolumeClaims("default").Get(ctx, "data", metav1.GetOptions{})
		return err == nil && pvc.Spec.StorageClassName != nil && *pvc.Spec.StorageClassName == DefaultClassName, err
	})
	// WaitForFirstConsumer: nothing is provisioned before a pod lands.
	time.Sleep(300 * time.Millisecond)
	if pvs, _ := client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{}); len(pvs.Items) != 0 {
		t.Fatalf("provisioned before a consumer: %v", pvs.Items[0].Name)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "app"},
		Spec: corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{Name: "c", Image: "img"}},
			Volumes: []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}}}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pvc := boundClaim(t, client, "data")
	pv, err := client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pv.Name != "pvc-"+string(pvc.UID) || pv.Spec.HostPath.Path != filepath.Join(base, pv.Name) ||
		pinnedTo(pv) != "node1" || pv.Spec.ClaimRef.UID != pvc.UID || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		t.Fatalf("provisioned PV = %+v", pv.Spec)
	}
	if q := pvc.Status.Capacity[corev1.ResourceStorage]; q.String() != "1Gi" {
		t.Errorf("claim capacity = %s", q.String())
	}
	eventually(t, "volume Bound", func() (bool, error) {
		pv, err := client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		return err == nil && pv.Status.Phase == corev1.VolumeBound, err
	})

	// The agent created the directory when the pod mounted it.
	if err := os.MkdirAll(filepath.Join(pv.Spec.HostPath.Path, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().PersistentVolumeClaims("default").Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "volume deleted and directory removed", func() (bool, error) {
		_, err := client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
	if _, err := os.Stat(pv.Spec.HostPath.Path); !os.IsNotExist(err) {
		t.Errorf("volume directory left behind: %v", err)
	}
}

func TestSelectedNodeAnnotation(t *testing.T) {
	client := start(t, t.TempDir())
	ctx := context.Background()
	eventually(t, "storage class", func() (bool, error) {
		_, err := client.StorageV1().StorageClasses().Get(ctx, DefaultClassName, metav1.GetOptions{})
		return err == nil, err
	})
	pvc := claim("sel", DefaultClassName, "10Mi", map[string]string{annSelectedNode: "node7"})
	if _, err := client.CoreV1().PersistentVolumeClaims("default").Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pvc = boundClaim(t, client, "sel")
	pv, err := client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil || pinnedTo(pv) != "node7" {
		t.Fatalf("PV %v pinned to %q, want node7", err, pinnedTo(pv))
	}
}

func TestBindPrecreatedVolume(t *testing.T) {
	client := start(t, t.TempDir())
	ctx := context.Background()
	for name, size := range map[string]string{"big": "5Gi", "small": "1Gi", "tiny": "100Mi"} {
		pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              "manual",
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + name}}}}
		if _, err := client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.CoreV1().PersistentVolumeClaims("default").Create(ctx, claim("m", "manual", "500Mi", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pvc := boundClaim(t, client, "m")
	if pvc.Spec.VolumeName != "small" {
		t.Fatalf("bound to %s, want the smallest fit (small)", pvc.Spec.VolumeName)
	}
	eventually(t, "unbound volumes Available", func() (bool, error) {
		pv, err := client.CoreV1().PersistentVolumes().Get(ctx, "big", metav1.GetOptions{})
		return err == nil && pv.Status.Phase == corev1.VolumeAvailable, err
	})
	if err := client.CoreV1().PersistentVolumeClaims("default").Delete(ctx, "m", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "retained volume Released", func() (bool, error) {
		pv, err := client.CoreV1().PersistentVolumes().Get(ctx, "small", metav1.GetOptions{})
		return err == nil && pv.Status.Phase == corev1.VolumeReleased, err
	})
}

func TestRemoveVolumeDirRefusesOutsidePaths(t *testing.T) {
	base := t.TempDir()
	for _, p := range []string{"/etc", base, filepath.Join(base, "a/b"), filepath.Join(base, "..")} {
		if err := RemoveVolumeDir(base, p); err == nil {
			t.Errorf("RemoveVolumeDir(%s) allowed", p)
		}
	}
	ok := filepath.Join(base, "pvc-1")
	if err := os.Mkdir(ok, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := RemoveVolumeDir(base, ok); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ok); !os.IsNotExist(err) {
		t.Errorf("%s not removed", ok)
	}
}

func TestWaitForConsumerHonoursVolumeNodeAffinity(t *testing.T) {
	client := start(t, t.TempDir())
	ctx := context.Background()
	mode := storagev1.VolumeBindingWaitForFirstConsumer
	if _, err := client.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local-disks"},
		Provisioner: "kubernetes.io/no-provisioner", VolumeBindingMode: &mode}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, node := range []string{"node-a", "node-b"} {
		pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "disk-" + node}, Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName:       "local-disks",
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/mnt/disk"}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: hostnameLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}}}}}}
		if _, err := client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.CoreV1().PersistentVolumeClaims("default").Create(ctx, claim("disk", "local-disks", "1Gi", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db"},
		Spec: corev1.PodSpec{NodeName: "node-b", Containers: []corev1.Container{{Name: "c", Image: "img"}},
			Volumes: []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "disk"}}}}}}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if pvc := boundClaim(t, client, "disk"); pvc.Spec.VolumeName != "disk-node-b" {
		t.Fatalf("bound to %s, want disk-node-b (the pod's node)", pvc.Spec.VolumeName)
	}
}
