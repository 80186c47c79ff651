package batch

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func newCronJob() *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "report", Namespace: "default", ResourceVersion: "1"},
		Spec: batchv1.CronJobSpec{
			Schedule:    "*/5 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: podTemplate()}},
		},
	}
	DefaultCronJob(cj)
	return cj
}

func TestCronJobDefaults(t *testing.T) {
	cj := newCronJob()
	if cj.Spec.ConcurrencyPolicy != batchv1.AllowConcurrent || *cj.Spec.Suspend ||
		*cj.Spec.SuccessfulJobsHistoryLimit != 3 || *cj.Spec.FailedJobsHistoryLimit != 1 {
		t.Errorf("defaults = %+v", cj.Spec)
	}
	// Job defaults are not applied to the template.
	if cj.Spec.JobTemplate.Spec.BackoffLimit != nil {
		t.Errorf("job template got Job defaults")
	}
}

func TestCronJobValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*batchv1.CronJob)
		want   []wantErr
	}{
		{"valid", func(*batchv1.CronJob) {}, nil},
		{"valid macro and zone", func(cj *batchv1.CronJob) { cj.Spec.Schedule, cj.Spec.TimeZone = "@daily", ptrTo("Europe/Berlin") }, nil},
		{"missing schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "" },
			[]wantErr{{field.ErrorTypeRequired, "spec.schedule", ""}}},
		{"bad schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "61 * * * *" },
			[]wantErr{{field.ErrorTypeInvalid, "spec.schedule", "end of range (61) above maximum (59): 61"}}},
		{"TZ in schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "CRON_TZ=UTC 0 * * * *" },
			[]wantErr{{field.ErrorTypeInvalid, "spec.schedule", "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"}}},
		{"unknown zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptrTo("Mars/Olympus") },
			[]wantErr{{field.ErrorTypeInvalid, "spec.timeZone", "unknown time zone Mars/Olympus"}}},
		{"malformed zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptrTo("../etc/passwd") },
			[]wantErr{{field.ErrorTypeInvalid, "spec.timeZone", "unknown time zone ../etc/passwd"}}},
		{"local zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptrTo("Local") },
			[]wantErr{{field.ErrorTypeInvalid, "spec.timeZone", "timeZone must be an explicit time zone"}}},
		{"long name", func(cj *batchv1.CronJob) { cj.Name = strings.Repeat("a", 53) },
			[]wantErr{{field.ErrorTypeInvalid, "metadata.name", "must be no more than 52 characters"}}},
		{"template selector", func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{} },
			[]wantErr{{field.ErrorTypeInvalid, "spec.jobTemplate.spec.selector", "`selector` will be auto-generated"}}},
		{"bad concurrency", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = "Sometimes" },
			[]wantErr{{field.ErrorTypeNotSupported, "spec.concurrencyPolicy", `"Allow"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cj := newCronJob()
			tt.mutate(cj)
			checkErrs(t, strategy(t, "CronJob").Validate(cj), tt.want)
		})
	}
}

func TestCronJobUpdateKeepsLegacyTZ(t *testing.T) {
	old := newCronJob()
	old.Spec.Schedule = "TZ=UTC 0 * * * *"
	cj := old.DeepCopy()
	cj.Spec.Schedule = "TZ=UTC 30 * * * *"
	checkErrs(t, strategy(t, "CronJob").ValidateUpdate(cj, old), nil)
	cj.Spec.TimeZone = ptrTo("UTC")
	checkErrs(t, strategy(t, "CronJob").ValidateUpdate(cj, old), []wantErr{
		{field.ErrorTypeInvalid, "spec.schedule", "cannot use both timeZone field and TZ or CRON_TZ in schedule"},
	})
}

func TestCronJobRow(t *testing.T) {
	cj := newCronJob()
	cj.Spec.TimeZone = ptrTo("UTC")
	cj.Status.Active = make([]corev1.ObjectReference, 2)
	last := metav1.NewTime(time.Now().Add(-3 * 24 * time.Hour))
	cj.Status.LastScheduleTime = &last
	row, err := strategy(t, "CronJob").Row(cj)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"report", "*/5 * * * *", "UTC", "False", int64(2), "3d", "<unknown>", "pi", "perl:5.34", "<none>"}
	if !equality.Semantic.DeepEqual(row, want) {
		t.Errorf("row = %#v", row)
	}
}
