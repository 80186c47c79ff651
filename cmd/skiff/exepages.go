package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/skiff-sh/skiff/internal/exepages"
)

// keepExecutableTrimmed holds a long-running command's share of the
// executable to its working set: trimmed a second after start, once package
// initialisation has touched what it will, and again whenever the resident
// part has grown by 8 MiB between two checks 30 s apart (the first 5 s
// after a trim).
func keepExecutableTrimmed(ctx context.Context, log *slog.Logger) {
	go exepages.Keep(ctx, log, time.Second, 5*time.Second, 30*time.Second, 8<<20)
}
