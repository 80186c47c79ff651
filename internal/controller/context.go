package controller

import (
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
)

// Context is what a controller is built from. Controllers register the
// informers they need on Informers before the manager starts it.
type Context struct {
	Client    kubernetes.Interface
	Informers informers.SharedInformerFactory
	// Recorder returns an event recorder that reports as component.
	Recorder func(component string) record.EventRecorder
	Clock    clock.WithTicker
}
