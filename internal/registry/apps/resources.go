package apps

import (
	"bytes"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/skiff-sh/skiff/internal/registry"
)

// Resources returns the apps/v1 resources in the order discovery lists them.
func Resources() []registry.Resource {
	return []registry.Resource{
		deploymentResource(),
		replicaSetResource(),
		statefulSetResource(),
		daemonSetResource(),
		controllerRevisionResource(),
	}
}

// Column definitions shared by the workload tables. Descriptions follow
// upstream's printers so clients that show them see the same text.
var (
	nameColumn = metav1.TableColumnDefinition{
		Name: "Name", Type: "string", Format: "name",
		Description: metav1.ObjectMeta{}.SwaggerDoc()["name"],
	}
	ageColumn = metav1.TableColumnDefinition{
		Name: "Age", Type: "string",
		Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"],
	}
	containersColumn = metav1.TableColumnDefinition{
		Name: "Containers", Type: "string", Priority: 1,
		Description: "Names of each container in the template.",
	}
	imagesColumn = metav1.TableColumnDefinition{
		Name: "Images", Type: "string", Priority: 1,
		Description: "Images referenced by each container in the template.",
	}
)

// age renders a creation timestamp the way kubectl's AGE column does.
func age(ts metav1.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(ts.Time))
}

// containerCells lays out the container names and images of a template as
// two comma-separated cells.
func containerCells(containers []corev1.Container) (names, images string) {
	var n, i bytes.Buffer
	for idx, c := range containers {
		if idx > 0 {
			n.WriteByte(',')
			i.WriteByte(',')
		}
		n.WriteString(c.Name)
		i.WriteString(c.Image)
	}
	return n.String(), i.String()
}

// int32Value dereferences an optional count; the defaulters make nil
// unreachable for stored objects, so 0 is only a safe fallback.
func int32Value(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}
