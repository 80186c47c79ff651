//go:build !linux

package exepages

import (
	"context"
	"log/slog"
	"time"
)

// Trim does nothing outside Linux.
func Trim() (int, error) { return 0, nil }

// Keep does nothing outside Linux.
func Keep(context.Context, *slog.Logger, time.Duration, time.Duration, time.Duration, int64) {}
