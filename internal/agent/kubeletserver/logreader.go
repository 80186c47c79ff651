package kubeletserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// logOptions are a container log request's options, resolved
// (corev1.PodLogOptions with since made absolute).
type logOptions struct {
	follow     bool
	timestamps bool
	// tailLines < 0 means every line.
	tailLines int64
	// since, when set, drops records written before it.
	since time.Time
	// limitBytes > 0 stops the output after that many bytes.
	limitBytes int64
	// stream is "stdout", "stderr" or "" for both (CRI's stream names).
	stream string
}

// logRecord is one line of a CRI log file:
//
//	2026-11-27T18:04:11.123456789Z stdout F hello
//
// "F" ends a line of the container's output, "P" is part of a longer one
// the runtime split (its continuation follows in later records).
type logRecord struct {
	ts      time.Time
	stream  string
	partial bool
	msg     []byte
}

// parseLogRecord parses one CRI log line, without its trailing newline.
func parseLogRecord(line []byte) (logRecord, error) {
	var rec logRecord
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return rec, fmt.Errorf("log line %q: no timestamp", truncate(line))
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return rec, fmt.Errorf("log line %q: timestamp: %w", truncate(line), err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok || (string(stream) != "stdout" && string(stream) != "stderr") {
		return rec, fmt.Errorf("log line %q: no stream", truncate(line))
	}
	// The message may be empty, with or without its separating space.
	tag, msg, _ := bytes.Cut(rest, []byte{' '})
	// Tags may grow ":"-separated fields; the first says full or partial.
	first, _, _ := bytes.Cut(tag, []byte{':'})
	switch string(first) {
	case "F":
	case "P":
		rec.partial = true
	default:
		return rec, fmt.Errorf("log line %q: unknown tag %q", truncate(line), tag)
	}
	rec.ts, rec.stream, rec.msg = t, string(stream), msg
	return rec, nil
}

func truncate(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}

// errLimitReached ends a read once limitBytes have been written.
var errLimitReached = errors.New("log byte limit reached")

// logWriter writes records to the client in the kubelet's output form: the
// message, a newline where the container wrote one, and with timestamps
// the record's time before each line (not before a partial line's
// continuations).
type logWriter struct {
	opts logOptions
	out  *bufio.Writer
	// written counts bytes for limitBytes.
	written int64
	// continuing is set per stream while a partial line is open.
	continuing map[string]bool
}

func newLogWriter(w io.Writer, opts logOptions) *logWriter {
	return &logWriter{opts: opts, out: bufio.NewWriterSize(w, 32<<10), continuing: map[string]bool{}}
}

// wants reports whether rec belongs in the output.
func (w *logWriter) wants(rec logRecord) bool {
	if w.opts.stream != "" && rec.stream != w.opts.stream {
		return false
	}
	return w.opts.since.IsZero() || !rec.ts.Before(w.opts.since)
}

func (w *logWriter) write(rec logRecord) error {
	if !w.wants(rec) {
		return nil
	}
	var line []byte
	if w.opts.timestamps && !w.continuing[rec.stream] {
		line = append(rec.ts.AppendFormat(line, time.RFC3339Nano), ' ')
	}
	line = append(line, rec.msg...)
	if !rec.partial {
		line = append(line, '\n')
	}
	w.continuing[rec.stream] = rec.partial
	if w.opts.limitBytes > 0 {
		if left := w.opts.limitBytes - w.written; int64(len(line)) >= left {
			_, err := w.out.Write(line[:left])
			w.written += left
			return errors.Join(err, errLimitReached)
		}
	}
	n, err := w.out.Write(line)
	w.written += int64(n)
	return err
}

// tailStart returns the offset of the first record of the last n lines of
// the selected stream(s) in f (a line spans its partial records), reading
// f from the start. Containers' logs are not rotated by Skiff, so this
// reads the whole file once; the kubelet reads backwards from the end.
func tailStart(f io.Reader, n int64, stream string) (int64, error) {
	if n <= 0 {
		return -1, nil // nothing: start at the end
	}
	starts := make([]int64, 0, min(n, 1024))
	var head int // ring index of the oldest start once full
	continuing := map[string]bool{}
	r := bufio.NewReaderSize(f, 64<<10)
	var off int64
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			rec, perr := parseLogRecord(line[:len(line)-1])
			if perr == nil && (stream == "" || rec.stream == stream) {
				if !continuing[rec.stream] {
					if int64(len(starts)) < n {
						starts = append(starts, off)
					} else {
						starts[head] = off
						head = (head + 1) % len(starts)
					}
				}
				continuing[rec.stream] = rec.partial
			}
		}
		off += int64(len(line))
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("reading log: %w", err)
		}
	}
	if int64(len(starts)) < n {
		return 0, nil
	}
	return starts[head], nil
}

// logFollower reads one container's log file and, when following, waits
// for more output until the container stops or ctx ends.
type logFollower struct {
	path string
	// running reports whether the container may still write; called
	// about once a second while following.
	running func(context.Context) bool
	// poll is how often a following reader looks for new output.
	poll time.Duration
}

// pollsPerRunningCheck: the container's state is asked every tenth poll
// (once a second with the default 100ms poll), since it is a CRI call.
const pollsPerRunningCheck = 10

// read writes the log to w per opts.
func (l *logFollower) read(ctx context.Context, w io.Writer, opts logOptions) error {
	f, err := os.Open(l.path)
	if err != nil {
		return fmt.Errorf("opening log %s: %w", l.path, err)
	}
	if opts.tailLines >= 0 {
		if err := seekTail(f, opts); err != nil {
			f.Close()
			return err
		}
	}
	lw := newLogWriter(w, opts)
	err = l.copy(ctx, f, lw, opts.follow)
	if errors.Is(err, errLimitReached) {
		err = nil
	}
	return errors.Join(err, lw.out.Flush())
}

// seekTail moves f to the first record of the last opts.tailLines lines.
func seekTail(f *os.File, opts logOptions) error {
	start, err := tailStart(f, opts.tailLines, opts.stream)
	if err != nil {
		return err
	}
	whence := io.SeekStart
	if start < 0 {
		start, whence = 0, io.SeekEnd
	}
	if _, err := f.Seek(start, whence); err != nil {
		return fmt.Errorf("seeking log: %w", err)
	}
	return nil
}

// copy writes the records from f on, following as asked, and closes f. A
// record still being written (no newline yet) waits for its end.
func (l *logFollower) copy(ctx context.Context, f *os.File, lw *logWriter, follow bool) error {
	var rotated *os.File
	defer func() {
		f.Close()
		if rotated != nil {
			rotated.Close()
		}
	}()
	r := bufio.NewReaderSize(f, 64<<10)
	var pending []byte
	polls := 0
	for {
		line, err := r.ReadBytes('\n')
		pending = append(pending, line...)
		if err == nil {
			if rec, perr := parseLogRecord(pending[:len(pending)-1]); perr == nil {
				if werr := lw.write(rec); werr != nil {
					return werr
				}
			}
			pending = pending[:0]
			continue
		}
		if !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading log %s: %w", l.path, err)
		}
		if rotated != nil {
			// The old file is read to its end: go on with the new one.
			f.Close()
			f, rotated = rotated, nil
			r.Reset(f)
			pending = pending[:0]
			continue
		}
		if !follow {
			return nil
		}
		if err := lw.out.Flush(); err != nil {
			return err
		}
		// At the end of what is written: stop once the container cannot
		// write more (after one more pass, for what it wrote before
		// stopping), else wait and look again.
		if polls%pollsPerRunningCheck == 0 && !l.running(ctx) {
			follow = false
			continue
		}
		polls++
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(l.poll):
		}
		next, err := l.checkRotated(f)
		switch {
		case err != nil:
			return err
		case next == nil:
			// Truncated and rewound: start again from the beginning.
			r.Reset(f)
			pending = pending[:0]
		case next != f:
			// Rotated: what the runtime wrote to the old file before
			// reopening is read first.
			rotated = next
		}
	}
}

// checkRotated returns f when nothing changed, the file now at l.path when
// it is another (the runtime reopened its log after a rotation), or nil
// after rewinding f when it was truncated.
func (l *logFollower) checkRotated(f *os.File) (*os.File, error) {
	cur, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("log %s: %w", l.path, err)
	}
	now, err := os.Stat(l.path)
	if err != nil {
		// Between a rename and the new file: look again next time.
		return f, nil
	}
	if !os.SameFile(cur, now) {
		nf, err := os.Open(l.path)
		if err != nil {
			return f, nil
		}
		return nf, nil
	}
	if pos, err := f.Seek(0, io.SeekCurrent); err == nil && now.Size() < pos {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("rewinding log %s: %w", l.path, err)
		}
		return nil, nil
	}
	return f, nil
}
