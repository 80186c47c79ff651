package volumes

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

type fakeSources struct {
	cms     map[string]*corev1.ConfigMap
	secrets map[string]*corev1.Secret
	pvcs    map[string]*corev1.PersistentVolumeClaim
	pvs     map[string]*corev1.PersistentVolume
}

func notFound(res, name string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: res}, name)
}

func (f *fakeSources) GetConfigMap(ns, name string) (*corev1.ConfigMap, error) {
	if o, ok := f.cms[ns+"/"+name]; ok {
		return o, nil
	}
	return nil, notFound("configmaps", name)
}
func (f *fakeSources) GetSecret(ns, name string) (*corev1.Secret, error) {
	if o, ok := f.secrets[ns+"/"+name]; ok {
		return o, nil
	}
	return nil, notFound("secrets", name)
}
func (f *fakeSources) GetPersistentVolumeClaim(ns, name string) (*corev1.PersistentVolumeClaim, error) {
	if o, ok := f.pvcs[ns+"/"+name]; ok {
		return o, nil
	}
	return nil, notFound("persistentvolumeclaims", name)
}
func (f *fakeSources) GetPersistentVolume(name string) (*corev1.PersistentVolume, error) {
	if o, ok := f.pvs[name]; ok {
		return o, nil
	}
	return nil, notFound("persistentvolumes", name)
}

func newManager(t *testing.T, src *fakeSources) *Manager {
	t.Helper()
	return New(Config{DataDir: t.TempDir(), Sources: src,
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")}})
}

func testPod(vols []corev1.Volume, mounts []corev1.VolumeMount) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "uid-1",
			Labels: map[string]string{"app": "web", "tier": "a\"b"}},
		Spec: corev1.PodSpec{Volumes: vols, Containers: []corev1.Container{{Name: "c", VolumeMounts: mounts,
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}}}},
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestConfigMapAtomicUpdate(t *testing.T) {
	src := &fakeSources{cms: map[string]*corev1.ConfigMap{"ns/cfg": {Data: map[string]string{"a": "1", "b": "2"}}}}
	m := newManager(t, src)
	pod := testPod([]corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}},
		[]corev1.VolumeMount{{Name: "cfg", MountPath: "/etc/cfg"}, {Name: "cfg", MountPath: "/etc/a", SubPath: "a"}})
	if err := m.Setup(pod); err != nil {
		t.Fatal(err)
	}
	mounts, err := m.Mounts(pod, &pod.Spec.Containers[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := mounts[0].HostPath
	if !mounts[0].ReadOnly || mounts[0].ContainerPath != "/etc/cfg" {
		t.Fatalf("mount = %+v, want read-only at /etc/cfg", mounts[0])
	}
	if want := filepath.Join(m.PodDir("uid-1"), "volumes/kubernetes.io~configmap/cfg"); dir != want {
		t.Fatalf("host path %s, want %s", dir, want)
	}
	if got := readFile(t, filepath.Join(dir, "a")); got != "1" {
		t.Fatalf("a = %q", got)
	}
	if l, _ := os.Readlink(filepath.Join(dir, "a")); l != "..data/a" {
		t.Fatalf("a links to %q, want ..data/a", l)
	}
	firstTS, _ := os.Readlink(filepath.Join(dir, "..data"))
	subPath := mounts[1].HostPath
	if !strings.Contains(subPath, firstTS) {
		t.Fatalf("subPath %s not resolved into %s", subPath, firstTS)
	}

	// Unchanged sources: no write, the ..data target stays.
	if err := m.Update(pod); err != nil {
		t.Fatal(err)
	}
	if ts, _ := os.Readlink(filepath.Join(dir, "..data")); ts != firstTS {
		t.Fatalf("unchanged update rewrote: %s -> %s", firstTS, ts)
	}

	src.cms["ns/cfg"] = &corev1.ConfigMap{Data: map[string]string{"a": "10", "c": "3"}}
	if err := m.Update(pod); err != nil {
		t.Fatal(err)
	}
	ts, _ := os.Readlink(filepath.Join(dir, "..data"))
	if ts == firstTS {
		t.Fatal("update did not swap ..data")
	}
	if got := readFile(t, filepath.Join(dir, "a")); got != "10" {
		t.Fatalf("after update a = %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "c")); got != "3" {
		t.Fatalf("after update c = %q", got)
	}
	if _, err := os.Lstat(filepath.Join(dir, "b")); !os.IsNotExist(err) {
		t.Fatalf("removed key b still visible: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, firstTS)); !os.IsNotExist(err) {
		t.Fatalf("old timestamped dir not removed: %v", err)
	}
	// A new subPath mount sees the new content; the old one was pinned.
	mounts, _ = m.Mounts(pod, &pod.Spec.Containers[0], nil)
	if mounts[1].HostPath == subPath || readFile(t, mounts[1].HostPath) != "10" {
		t.Fatalf("subPath after update = %s", mounts[1].HostPath)
	}
}

func TestItemsModesOptional(t *testing.T) {
	src := &fakeSources{
		cms:     map[string]*corev1.ConfigMap{"ns/cfg": {Data: map[string]string{"a": "1", "b": "2"}}},
		secrets: map[string]*corev1.Secret{"ns/s": {Data: map[string][]byte{"k": []byte("v")}}},
	}
	cases := []struct {
		name    string
		vol     corev1.VolumeSource
		files   map[string]os.FileMode // path -> mode; nil with wantErr
		wantErr bool
	}{
		{"items and modes", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr.To[int32](0o600),
			Items: []corev1.KeyToPath{{Key: "a", Path: "dir/x"}, {Key: "b", Path: "y", Mode: ptr.To[int32](0o400)}}}},
			map[string]os.FileMode{"dir/x": 0o600, "y": 0o400}, false},
		{"missing key", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "nope", Path: "n"}}}}, nil, true},
		{"missing optional key", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{Optional: ptr.To(true),
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "nope", Path: "n"}}}}, map[string]os.FileMode{}, false},
		{"missing configmap", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}}}, nil, true},
		{"missing optional secret", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "gone", Optional: ptr.To(true)}},
			map[string]os.FileMode{}, false},
		{"secret", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}, map[string]os.FileMode{"k": 0o644}, false},
		{"escaping path", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "a", Path: "../x"}}}}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newManager(t, src)
			pod := testPod([]corev1.Volume{{Name: "v", VolumeSource: tc.vol}}, []corev1.VolumeMount{{Name: "v", MountPath: "/v"}})
			err := m.Setup(pod)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Setup err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			mounts, _ := m.Mounts(pod, &pod.Spec.Containers[0], nil)
			dir := mounts[0].HostPath
			entries, _ := os.ReadDir(dir)
			visible := 0
			for _, e := range entries {
				if !strings.HasPrefix(e.Name(), "..") {
					visible++
				}
			}
			top := map[string]bool{}
			for p, mode := range tc.files {
				top[strings.Split(p, "/")[0]] = true
				st, err := os.Stat(filepath.Join(dir, p))
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm() != mode {
					t.Errorf("%s mode %o, want %o", p, st.Mode().Perm(), mode)
				}
			}
			if visible != len(top) {
				t.Errorf("%d visible entries, want %d", visible, len(top))
			}
		})
	}
}

func TestDownwardAPI(t *testing.T) {
	m := newManager(t, &fakeSources{})
	pod := testPod([]corev1.Volume{{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
		Items: []corev1.DownwardAPIVolumeFile{
			{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
			{Path: "uid", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.uid"}},
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "app", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}},
			{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
			{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.cpu"}},
		}}}}}, []corev1.VolumeMount{{Name: "info", MountPath: "/info"}})
	if err := m.Setup(pod); err != nil {
		t.Fatal(err)
	}
	mounts, _ := m.Mounts(pod, &pod.Spec.Containers[0], nil)
	dir := mounts[0].HostPath
	want := map[string]string{"name": "p", "uid": "uid-1", "labels": "app=\"web\"\ntier=\"a\\\"b\"", "app": "web", "mem": "64", "cpu": "4"}
	for f, v := range want {
		if got := readFile(t, filepath.Join(dir, f)); got != v {
			t.Errorf("%s = %q, want %q", f, got, v)
		}
	}
	pod.Labels["app"] = "api"
	if err := m.Update(pod); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "app")); got != "api" {
		t.Errorf("after label change app = %q", got)
	}
}

func TestProjected(t *testing.T) {
	src := &fakeSources{cms: map[string]*corev1.ConfigMap{"ns/cfg": {Data: map[string]string{"a": "1"}}},
		secrets: map[string]*corev1.Secret{"ns/s": {Data: map[string][]byte{"k": []byte("v")}}}}
	m := newManager(t, src)
	pod := testPod([]corev1.Volume{{Name: "all", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr.To[int32](0o640),
		Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
		}}}}}, []corev1.VolumeMount{{Name: "all", MountPath: "/all"}})
	if err := m.Setup(pod); err != nil {
		t.Fatal(err)
	}
	mounts, _ := m.Mounts(pod, &pod.Spec.Containers[0], nil)
	dir := mounts[0].HostPath
	for f, v := range map[string]string{"a": "1", "k": "v", "ns": "ns"} {
		if got := readFile(t, filepath.Join(dir, f)); got != v {
			t.Errorf("%s = %q, want %q", f, got, v)
		}
	}
	if st, _ := os.Stat(filepath.Join(dir, "a")); st.Mode().Perm() != 0o640 {
		t.Errorf("projected default mode %o", st.Mode().Perm())
	}
	if _, err := os.Lstat(filepath.Join(dir, "token")); !os.IsNotExist(err) {
		t.Errorf("token written: %v", err)
	}
}

func TestHostPathTypes(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(base, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cases := []struct {
		path    string
		typ     corev1.HostPathType
		wantErr bool
		isDir   bool
	}{
		{filepath.Join(base, "new/dir"), corev1.HostPathDirectoryOrCreate, false, true},
		{filepath.Join(base, "missing"), corev1.HostPathDirectory, true, false},
		{file, corev1.HostPathDirectory, true, false},
		{base, corev1.HostPathDirectory, false, true},
		{filepath.Join(base, "newfile"), corev1.HostPathFileOrCreate, false, false},
		{filepath.Join(base, "noparent/f"), corev1.HostPathFileOrCreate, true, false},
		{file, corev1.HostPathFile, false, false},
		{base, corev1.HostPathFile, true, false},
		{sock, corev1.HostPathSocket, false, false},
		{file, corev1.HostPathSocket, true, false},
		{"/dev/null", corev1.HostPathCharDev, false, false},
		{"/dev/null", corev1.HostPathBlockDev, true, false},
		{filepath.Join(base, "anything"), corev1.HostPathUnset, false, false},
	}
	for _, tc := range cases {
		err := checkHostPath(tc.path, &tc.typ)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s %q: err = %v, wantErr %v", tc.path, tc.typ, err, tc.wantErr)
			continue
		}
		if tc.isDir {
			if st, err := os.Stat(tc.path); err != nil || !st.IsDir() {
				t.Errorf("%s not a directory after check", tc.path)
			}
		}
	}
	if st, err := os.Stat(filepath.Join(base, "newfile")); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("FileOrCreate did not create a 0644 file: %v", err)
	}
}

func TestEmptyDirSubPathAndCleanup(t *testing.T) {
	m := newManager(t, &fakeSources{})
	pod := testPod([]corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		[]corev1.VolumeMount{
			{Name: "scratch", MountPath: "/data", MountPropagation: ptr.To(corev1.MountPropagationHostToContainer)},
			{Name: "scratch", MountPath: "/logs", SubPathExpr: "logs/$(POD_NAME)"},
		})
	if err := m.Setup(pod); err != nil {
		t.Fatal(err)
	}
	mounts, err := m.Mounts(pod, &pod.Spec.Containers[0], map[string]string{"POD_NAME": "p"})
	if err != nil {
		t.Fatal(err)
	}
	if mounts[0].ReadOnly || mounts[0].Propagation != corev1.MountPropagationHostToContainer {
		t.Errorf("emptyDir mount = %+v", mounts[0])
	}
	if want := filepath.Join(mounts[0].HostPath, "logs/p"); mounts[1].HostPath != want {
		t.Errorf("subPathExpr resolved to %s, want %s", mounts[1].HostPath, want)
	}
	if st, err := os.Stat(mounts[1].HostPath); err != nil || !st.IsDir() {
		t.Errorf("subPath not created: %v", err)
	}
	// A symlink pointing out of the volume must not be followed.
	if err := os.Symlink("/etc", filepath.Join(mounts[0].HostPath, "out")); err != nil {
		t.Fatal(err)
	}
	pod.Spec.Containers[0].VolumeMounts[1] = corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "out"}
	if _, err := m.Mounts(pod, &pod.Spec.Containers[0], nil); err == nil {
		t.Error("subPath through an escaping symlink accepted")
	}
	if err := m.Cleanup(pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.PodDir(pod.UID)); !os.IsNotExist(err) {
		t.Errorf("pod dir left after Cleanup: %v", err)
	}
}

func TestEmptyDirMemory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("tmpfs mounts need root")
	}
	m := newManager(t, &fakeSources{})
	pod := testPod([]corev1.Volume{{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
		Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("1Mi"))}}}}, nil)
	t.Cleanup(func() { _ = unmountUnder(m.PodDir(pod.UID)) })
	for range 2 { // idempotent: the second Setup must not stack a mount
		if err := m.Setup(pod); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(m.PodDir(pod.UID), "volumes/kubernetes.io~empty-dir/mem")
	count := func() int {
		mps, _ := mountPoints()
		n := 0
		for _, mp := range mps {
			if mp == dir {
				n++
			}
		}
		return n
	}
	if n := count(); n != 1 {
		t.Fatalf("%d tmpfs mounts on %s, want 1", n, dir)
	}
	// The size limit holds: 2 MiB does not fit in 1 MiB.
	if err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, 2<<20), 0o644); err == nil {
		t.Error("wrote 2MiB into a 1Mi tmpfs")
	}
	if err := m.Cleanup(pod.UID); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("tmpfs still mounted after Cleanup")
	}
}

func TestPersistentVolumeClaim(t *testing.T) {
	store := t.TempDir()
	src := &fakeSources{
		pvcs: map[string]*corev1.PersistentVolumeClaim{
			"ns/data":    {Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv1"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
			"ns/pending": {Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
		},
		pvs: map[string]*corev1.PersistentVolume{"pv1": {ObjectMeta: metav1.ObjectMeta{Name: "pv1"}, Spec: corev1.PersistentVolumeSpec{
			ClaimRef:               &corev1.ObjectReference{Namespace: "ns", Name: "data"},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: filepath.Join(store, "pv1"), Type: ptr.To(corev1.HostPathDirectoryOrCreate)}}}}},
	}
	m := newManager(t, src)
	pod := testPod([]corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}},
		[]corev1.VolumeMount{{Name: "d", MountPath: "/d"}})
	if err := m.Setup(pod); err != nil {
		t.Fatal(err)
	}
	mounts, _ := m.Mounts(pod, &pod.Spec.Containers[0], nil)
	if mounts[0].HostPath != filepath.Join(store, "pv1") {
		t.Errorf("PVC mount = %s", mounts[0].HostPath)
	}
	pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName = "pending"
	if err := m.Setup(pod); err == nil {
		t.Error("Setup with an unbound claim succeeded")
	}
	// Cleanup never touches the PV's data.
	if err := m.Cleanup(pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(store, "pv1")); err != nil {
		t.Errorf("PV directory removed by Cleanup: %v", err)
	}
}

func TestDeletedSourceKeepsLastContent(t *testing.T) {
	src := &fakeSources{cms: map[string]*corev1.ConfigMap{"ns/cfg": {Data: map[string]string{"a": "1"}}}}
	m := newManager(t, src)
	pod := testPod([]corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}}, []corev1.VolumeMount{{Name: "cfg", MountPath: "/c"}})
	if err := m.Setup(pod); err != nil {
		t.Fatal(err)
	}
	delete(src.cms, "ns/cfg")
	if err := m.Update(pod); err == nil {
		t.Error("Update with a deleted configmap reported no error")
	}
	// A container restart must not be blocked by the deleted source.
	if err := m.Setup(pod); err != nil {
		t.Fatalf("re-Setup after the source was deleted: %v", err)
	}
	mounts, _ := m.Mounts(pod, &pod.Spec.Containers[0], nil)
	if got := readFile(t, filepath.Join(mounts[0].HostPath, "a")); got != "1" {
		t.Errorf("a = %q, want the last content", got)
	}
	st, err := os.Stat(m.PodDir(pod.UID))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o750 {
		t.Errorf("pod dir mode %o, want 0750", st.Mode().Perm())
	}
}

func TestSecretsOnTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("tmpfs mounts need root")
	}
	src := &fakeSources{secrets: map[string]*corev1.Secret{"ns/s": {Data: map[string][]byte{"k": []byte("v")}}}}
	m := New(Config{DataDir: t.TempDir(), Sources: src, SecretsOnTmpfs: true})
	pod := testPod([]corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}}},
		[]corev1.VolumeMount{{Name: "s", MountPath: "/s"}})
	t.Cleanup(func() { _ = unmountUnder(m.PodDir(pod.UID)) })
	if err := m.Setup(pod); err != nil {
		t.Fatal(err)
	}
	if err := m.Setup(pod); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(m.PodDir(pod.UID), "volumes/kubernetes.io~secret/s")
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != unix.TMPFS_MAGIC {
		t.Fatalf("secret volume on fs type %#x, want tmpfs", st.Type)
	}
	if got := readFile(t, filepath.Join(dir, "k")); got != "v" {
		t.Errorf("k = %q", got)
	}
	if err := m.Cleanup(pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.PodDir(pod.UID)); !os.IsNotExist(err) {
		t.Errorf("pod dir left: %v", err)
	}
}
