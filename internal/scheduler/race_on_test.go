//go:build race

package scheduler

// raceEnabled: the race detector slows everything several-fold, so
// performance figures would mean nothing.
const raceEnabled = true
