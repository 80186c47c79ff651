package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/skiff-sh/skiff/internal/exepages"
)

// keepExecutableTrimmed holds a long-running command's share of the
// executable to its working set: trimmed a second after start, when package
// initialisation and start-up have touched what they will, and again when
// the resident part grows by 16 MiB over that, checked each minute.
func keepExecutableTrimmed(ctx context.Context, log *slog.Logger) {
	go exepages.Keep(ctx, log, time.Second, time.Minute, 16<<20)
}
