package controller

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RecheckOwner returns the check a controller runs before its first
// adoption of a sync (of pods or ControllerRevisions): a live read, get,
// that owner still exists with its UID and is not being deleted, so a
// dying owner does not grab objects the garbage collector is about to
// orphan (upstream's RecheckDeletionTimestamp). kind names the owner in
// errors.
func RecheckOwner(owner metav1.Object, kind string, get func(context.Context) (metav1.Object, error)) func(context.Context) error {
	return func(ctx context.Context) error {
		fresh, err := get(ctx)
		if err != nil {
			return err
		}
		name := kind + " " + owner.GetNamespace() + "/" + owner.GetName()
		if fresh.GetUID() != owner.GetUID() {
			return fmt.Errorf("%s was recreated (uid %s, want %s)", name, fresh.GetUID(), owner.GetUID())
		}
		if fresh.GetDeletionTimestamp() != nil {
			return fmt.Errorf("%s is being deleted", name)
		}
		return nil
	}
}
