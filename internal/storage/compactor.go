package storage

import (
	"context"
	"log/slog"
	"time"
)

// RunCompactor discards store history older than one interval, every
// interval, until ctx ends. Compacting to the revision seen one interval
// ago (as upstream's API server does with etcd) keeps enough history for
// watchers that reconnect within the interval, and keeps the database
// bounded by live data plus one interval of changes.
func RunCompactor(ctx context.Context, s Store, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if last > 0 {
			if err := s.Compact(ctx, last); err != nil && ctx.Err() == nil {
				log.Warn("compacting store history", "revision", last, "err", err)
			} else {
				log.Debug("compacted store history", "revision", last)
			}
		}
		rev, err := s.CurrentRevision(ctx)
		if err != nil {
			continue
		}
		last = rev
	}
}
