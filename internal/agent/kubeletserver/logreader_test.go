package kubeletserver

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A log as containerd writes it: a stderr line between stdout ones, and a
// stdout line split into two partial records.
const sampleLog = `2026-11-27T10:00:00.000000001Z stdout F one
2026-11-27T10:00:01Z stderr F oops
2026-11-27T10:00:02.5Z stdout P tw
2026-11-27T10:00:03Z stdout F o
2026-11-27T10:00:04Z stdout F 
2026-11-27T10:00:05Z stdout F three
`

func writeLog(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseLogRecord(t *testing.T) {
	for _, tc := range []struct {
		line    string
		stream  string
		partial bool
		msg     string
		bad     bool
	}{
		{line: "2026-11-27T10:00:00.5Z stdout F hello world", stream: "stdout", msg: "hello world"},
		{line: "2026-11-27T10:00:00Z stderr P part", stream: "stderr", partial: true, msg: "part"},
		{line: "2026-11-27T10:00:00Z stdout F", stream: "stdout", msg: ""},
		{line: "2026-11-27T10:00:00Z stdout F:x  two spaces", stream: "stdout", msg: " two spaces"},
		{line: "garbage", bad: true},
		{line: "2026-11-27T10:00:00Z stdin F x", bad: true},
		{line: "2026-11-27T10:00:00Z stdout X x", bad: true},
		{line: "yesterday stdout F x", bad: true},
	} {
		rec, err := parseLogRecord([]byte(tc.line))
		if tc.bad {
			if err == nil {
				t.Errorf("%q: parsed, want an error", tc.line)
			}
			continue
		}
		if err != nil || rec.stream != tc.stream || rec.partial != tc.partial || string(rec.msg) != tc.msg {
			t.Errorf("%q = %+v, %v", tc.line, rec, err)
		}
	}
}

func TestReadLogOptions(t *testing.T) {
	path := writeLog(t, sampleLog)
	since := time.Date(2026, 11, 27, 10, 0, 2, 0, time.UTC)
	for _, tc := range []struct {
		name string
		opts logOptions
		want string
	}{
		{"all", logOptions{tailLines: -1}, "one\noops\ntwo\n\nthree\n"},
		{"tail 2", logOptions{tailLines: 2}, "\nthree\n"},
		// The split line counts once and comes whole.
		{"tail 3", logOptions{tailLines: 3}, "two\n\nthree\n"},
		{"tail 0", logOptions{tailLines: 0}, ""},
		{"tail more than there are", logOptions{tailLines: 50}, "one\noops\ntwo\n\nthree\n"},
		{"since", logOptions{tailLines: -1, since: since}, "two\n\nthree\n"},
		{"stdout", logOptions{tailLines: -1, stream: "stdout"}, "one\ntwo\n\nthree\n"},
		{"stderr", logOptions{tailLines: -1, stream: "stderr"}, "oops\n"},
		{"limit", logOptions{tailLines: -1, limitBytes: 6}, "one\noo"},
		{"limit exact", logOptions{tailLines: -1, limitBytes: 4}, "one\n"},
		// The timestamp is the first record's; RFC3339Nano drops zeros.
		{"timestamps", logOptions{tailLines: 3, timestamps: true},
			"2026-11-27T10:00:02.5Z two\n2026-11-27T10:00:04Z \n2026-11-27T10:00:05Z three\n"},
		{"timestamps nanos", logOptions{tailLines: -1, timestamps: true, limitBytes: 35},
			"2026-11-27T10:00:00.000000001Z one\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			l := &logFollower{path: path, poll: time.Millisecond, running: func(context.Context) bool { return false }}
			if err := l.read(context.Background(), &out, tc.opts); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("got %q, want %q", out.String(), tc.want)
			}
		})
	}
}

// syncBuffer is written by the reader while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits for the output to become want; the long bound only stops
// a broken reader from hanging the test.
func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if out.String() == want {
			return
		}
	}
	t.Fatalf("output %q, want %q", out.String(), want)
}

func appendLog(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// TestFollowLog follows a log through a record written in two pieces, a
// rotation and a truncation, and stops once the container has exited.
func TestFollowLog(t *testing.T) {
	path := writeLog(t, "2026-11-27T10:00:00Z stdout F first\n")
	var running atomic.Bool
	running.Store(true)
	l := &logFollower{path: path, poll: time.Millisecond, running: func(context.Context) bool { return running.Load() }}
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- l.read(context.Background(), out, logOptions{tailLines: 1, follow: true}) }()
	waitFor(t, out, "first\n")

	appendLog(t, path, "2026-11-27T10:00:01Z stdout F sec")
	appendLog(t, path, "ond\n")
	waitFor(t, out, "first\nsecond\n")

	// Rotation: the runtime renames the file and reopens the path.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendLog(t, path+".1", "2026-11-27T10:00:02Z stdout F third\n")
	appendLog(t, path, "2026-11-27T10:00:03Z stdout F fourth\n")
	waitFor(t, out, "first\nsecond\nthird\nfourth\n")

	// Truncation: read again from the start.
	if err := os.WriteFile(path, []byte("2026-11-27T10:00:04Z stderr F fifth\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "first\nsecond\nthird\nfourth\nfifth\n")

	// What the container wrote before it exited still comes out.
	appendLog(t, path, "2026-11-27T10:00:05Z stdout F last\n")
	running.Store(false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "first\nsecond\nthird\nfourth\nfifth\nlast\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

// TestFollowLogEndsWithClient: a client that goes away ends the read.
func TestFollowLogEndsWithClient(t *testing.T) {
	path := writeLog(t, sampleLog)
	l := &logFollower{path: path, poll: time.Millisecond, running: func(context.Context) bool { return true }}
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- l.read(ctx, out, logOptions{tailLines: 1, follow: true}) }()
	waitFor(t, out, "three\n")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestParseLogOptions(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	got, err := parseLogOptions(url.Values{"follow": {"true"}, "previous": {"true"}, "tailLines": {"10"},
		"sinceSeconds": {"60"}, "timestamps": {"true"}, "limitBytes": {"100"}, "stream": {"All"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := podLogRequest{previous: true, logOptions: logOptions{follow: true, timestamps: true, tailLines: 10,
		since: now.Add(-time.Minute), limitBytes: 100}}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	got, err = parseLogOptions(url.Values{"sinceTime": {"2026-11-27T11:00:00Z"}, "stream": {"Stderr"}}, now)
	if err != nil || !got.since.Equal(now.Add(-time.Hour)) || got.stream != "stderr" || got.tailLines != -1 {
		t.Errorf("sinceTime: %+v, %v", got, err)
	}
	for _, bad := range []url.Values{
		{"tailLines": {"-1"}},
		{"limitBytes": {"0"}},
		{"sinceSeconds": {"0"}},
		{"sinceSeconds": {"5"}, "sinceTime": {"2026-11-27T11:00:00Z"}},
		{"stream": {"Stdin"}},
		{"stream": {"Stdout"}, "tailLines": {"1"}},
		{"tailLines": {"many"}},
	} {
		if _, err := parseLogOptions(bad, now); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestContainerIDFromStatus(t *testing.T) {
	terminated := func(id string) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ContainerID: id}}
	}
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}
	waiting := func(reason string) corev1.ContainerState {
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
	}
	for _, tc := range []struct {
		name     string
		st       corev1.ContainerStatus
		previous bool
		want     string
		wantErr  string
	}{
		{name: "running", st: corev1.ContainerStatus{State: running, ContainerID: "containerd://cur"}, want: "cur"},
		{name: "running previous", st: corev1.ContainerStatus{State: running, ContainerID: "containerd://cur", LastTerminationState: terminated("containerd://old")}, previous: true, want: "old"},
		{name: "no previous", st: corev1.ContainerStatus{State: running, ContainerID: "containerd://cur"}, previous: true, wantErr: `previous terminated container "c" in pod "p" not found`},
		{name: "crash loop", st: corev1.ContainerStatus{State: waiting("CrashLoopBackOff"), LastTerminationState: terminated("containerd://old")}, want: "old"},
		{name: "terminated", st: corev1.ContainerStatus{State: terminated("containerd://done"), ContainerID: "containerd://done"}, want: "done"},
		{name: "creating", st: corev1.ContainerStatus{State: waiting("ContainerCreating")}, wantErr: `container "c" in pod "p" is waiting to start: ContainerCreating`},
		{name: "pull", st: corev1.ContainerStatus{State: waiting("ImagePullBackOff")}, wantErr: "trying and failing to pull image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.st.Name = "c"
			got, err := containerIDFromStatus("p", &tc.st, tc.previous)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v, want %q", got, err, tc.want)
			}
		})
	}
}
