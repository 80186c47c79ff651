package networking

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/skiff-sh/skiff/internal/registry"
)

// Resources returns the networking.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{ingressResource(), ingressClassResource(), networkPolicyResource()}
}

var (
	nameColumn = metav1.TableColumnDefinition{
		Name: "Name", Type: "string", Format: "name",
		Description: metav1.ObjectMeta{}.SwaggerDoc()["name"],
	}
	ageColumn = metav1.TableColumnDefinition{
		Name: "Age", Type: "string",
		Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"],
	}
)

// age renders a creation timestamp the way kubectl's AGE column does.
func age(ts metav1.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(ts.Time))
}
