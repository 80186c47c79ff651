package cronjob

import (
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func cronJob(schedule string, tz *string, last time.Time) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "ns", UID: types.UID("cj-uid"), CreationTimestamp: metav1.NewTime(last.Add(-time.Hour))},
		Spec:       batchv1.CronJobSpec{Schedule: schedule, TimeZone: tz},
	}
	if !last.IsZero() {
		cj.Status.LastScheduleTime = &metav1.Time{Time: last}
	}
	return cj
}

func TestDueSchedule(t *testing.T) {
	berlin, newYork := zone(t, "Europe/Berlin"), zone(t, "America/New_York")
	utc := func(y int, mo time.Month, d, h, m int) time.Time { return time.Date(y, mo, d, h, m, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name        string
		schedule    string
		tz          *string
		last, now   time.Time
		deadline    *int64
		want        time.Time // zero: nothing due
		wantMissed  int
		wantTooMany bool
	}{
		{
			// 2026-03-29 02:00 CET jumps to 03:00 CEST: the runs are 24h
			// apart except the 23h step over the change. Missed: 28th, 29th,
			// 30th, 31st; the latest is 09:00 CEST = 07:00Z.
			name: "daily across spring-forward in Berlin", schedule: "0 9 * * *", tz: ptr.To("Europe/Berlin"),
			last: time.Date(2026, 3, 27, 9, 0, 0, 0, berlin), now: time.Date(2026, 3, 31, 10, 0, 0, 0, berlin),
			want: utc(2026, 3, 31, 7, 0), wantMissed: 4,
		},
		{
			// 2026-11-01 01:00-01:59 happens twice in New York: an hourly
			// schedule fires 25 times that day.
			name: "hourly across fall-back in New York", schedule: "0 * * * *", tz: ptr.To("America/New_York"),
			last: time.Date(2026, 10, 31, 23, 0, 0, 0, newYork), now: time.Date(2026, 11, 1, 23, 30, 0, 0, newYork),
			want: utc(2026, 11, 2, 4, 0), wantMissed: 25,
		},
		{
			// 02:30 does not exist on 2026-03-08 in New York; like cron (and
			// upstream's parser) the run of that day is skipped.
			name: "a time inside the spring-forward gap is skipped", schedule: "30 2 * * *", tz: ptr.To("America/New_York"),
			last: time.Date(2026, 3, 7, 2, 30, 0, 0, newYork), now: time.Date(2026, 3, 9, 12, 0, 0, 0, newYork),
			want: time.Date(2026, 3, 9, 2, 30, 0, 0, newYork), wantMissed: 1,
		},
		{
			name: "timeZone shifts the schedule", schedule: "0 9 * * *", tz: ptr.To("Asia/Tokyo"),
			last: utc(2026, 1, 1, 0, 0), now: utc(2026, 1, 2, 0, 30),
			want: utc(2026, 1, 2, 0, 0), wantMissed: 1,
		},
		{
			name: "CRON_TZ in the schedule", schedule: "CRON_TZ=Asia/Tokyo 0 9 * * *",
			last: utc(2026, 1, 1, 0, 0), now: utc(2026, 1, 2, 0, 30),
			want: utc(2026, 1, 2, 0, 0), wantMissed: 1,
		},
		{
			name: "only the latest missed run is due", schedule: "0 * * * *",
			last: utc(2026, 1, 1, 6, 0), now: utc(2026, 1, 1, 9, 20),
			want: utc(2026, 1, 1, 9, 0), wantMissed: 3,
		},
		{
			name: "startingDeadlineSeconds bounds the search", schedule: "0 * * * *", deadline: ptr.To[int64](600),
			last: utc(2026, 1, 1, 6, 0), now: utc(2026, 1, 1, 9, 20),
		},
		{
			name: "within startingDeadlineSeconds", schedule: "0 * * * *", deadline: ptr.To[int64](1800),
			last: utc(2026, 1, 1, 6, 0), now: utc(2026, 1, 1, 9, 20),
			want: utc(2026, 1, 1, 9, 0), wantMissed: 1,
		},
		{
			name: "nothing due yet", schedule: "*/5 * * * *",
			last: utc(2026, 1, 1, 10, 0), now: utc(2026, 1, 1, 10, 4),
		},
		{
			name: "exactly at the schedule time", schedule: "*/5 * * * *",
			last: utc(2026, 1, 1, 10, 0), now: utc(2026, 1, 1, 10, 5),
			want: utc(2026, 1, 1, 10, 5), wantMissed: 1,
		},
		{
			name: "101 missed is too many", schedule: "* * * * *",
			last: utc(2026, 1, 1, 10, 0), now: utc(2026, 1, 1, 11, 41).Add(30 * time.Second),
			want: utc(2026, 1, 1, 11, 41), wantMissed: 101, wantTooMany: true,
		},
		{
			name: "100 missed is not", schedule: "* * * * *",
			last: utc(2026, 1, 1, 10, 0), now: utc(2026, 1, 1, 11, 40).Add(30 * time.Second),
			want: utc(2026, 1, 1, 11, 40), wantMissed: 100,
		},
		{
			// A year of minutes is found without walking them all.
			name: "a year missed", schedule: "* * * * *",
			last: utc(2025, 1, 1, 0, 0), now: utc(2026, 1, 1, 0, 0).Add(30 * time.Second),
			want: utc(2026, 1, 1, 0, 0), wantMissed: 101, wantTooMany: true,
		},
		{
			name: "irregular weekday schedule far behind", schedule: "30 9 * * 1-5",
			last: utc(2025, 1, 1, 0, 0), now: utc(2026, 1, 4, 12, 0), // a Sunday
			want: utc(2026, 1, 2, 9, 30), wantMissed: 101, wantTooMany: true,
		},
		{
			name: "@every", schedule: "@every 90s",
			last: utc(2026, 1, 1, 10, 0), now: utc(2026, 1, 1, 10, 4),
			want: utc(2026, 1, 1, 10, 3), wantMissed: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cj := cronJob(tc.schedule, tc.tz, tc.last)
			cj.Spec.StartingDeadlineSeconds = tc.deadline
			sched, err := parseSchedule(cj)
			if err != nil {
				t.Fatal(err)
			}
			got, tooMany := dueSchedule(cj, sched, tc.now)
			if !got.Equal(tc.want) || tooMany != tc.wantTooMany {
				t.Errorf("dueSchedule = %v (too many %v), want %v (%v)", got.UTC(), tooMany, tc.want.UTC(), tc.wantTooMany)
			}
			if tc.deadline == nil {
				if _, n := unmetSchedules(sched, tc.last, tc.now); n != tc.wantMissed {
					t.Errorf("missed %d times, want %d", n, tc.wantMissed)
				}
			}
		})
	}
}

func TestNextWakeUp(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 1, 1, h, m, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name      string
		schedule  string
		last, now time.Time
		want      time.Duration
		ok        bool
	}{
		{"next slot", "*/5 * * * *", at(10, 0), at(10, 2), 3*time.Minute + nextScheduleDelta, true},
		{"after a missed slot", "*/5 * * * *", at(10, 0), at(10, 7), 3*time.Minute + nextScheduleDelta, true},
		{"from creation when never run", "0 * * * *", time.Time{}, at(10, 30), 30*time.Minute + nextScheduleDelta, true},
		{"never fires", "0 0 30 2 *", at(10, 0), at(10, 2), 0, false},
	} {
		cj := cronJob(tc.schedule, nil, tc.last)
		if tc.last.IsZero() {
			cj.CreationTimestamp = metav1.NewTime(at(9, 59))
		}
		sched, err := parseSchedule(cj)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := nextWakeUp(cj, sched, tc.now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: nextWakeUp = %v/%v, want %v/%v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestJobFromTemplate(t *testing.T) {
	scheduled := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cj := cronJob("0 0 * * *", ptr.To("Asia/Tokyo"), time.Time{})
	cj.Spec.JobTemplate.Labels = map[string]string{"app": "report"}
	cj.Spec.JobTemplate.Annotations = map[string]string{"note": "x"}
	cj.Spec.JobTemplate.Spec.BackoffLimit = ptr.To[int32](2)
	job, err := jobFromTemplate(cj, scheduled)
	if err != nil {
		t.Fatal(err)
	}
	if job.Name != "nightly-29453760" {
		t.Errorf("name %q, want nightly-29453760 (minutes since the epoch)", job.Name)
	}
	if got := job.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != "2026-01-01T09:00:00+09:00" {
		t.Errorf("scheduled timestamp %q, want it in the CronJob's zone", got)
	}
	if job.Labels["app"] != "report" || job.Annotations["note"] != "x" || *job.Spec.BackoffLimit != 2 {
		t.Errorf("template not copied: %+v", job.ObjectMeta)
	}
	if ref := metav1.GetControllerOf(job); ref == nil || ref.UID != cj.UID || ref.Kind != "CronJob" {
		t.Errorf("controller ref %+v", ref)
	}
	// Seconds within the minute do not change the name: a restart that
	// computes the same run finds the same Job.
	if again, _ := jobFromTemplate(cj, scheduled.Add(30*time.Second)); again.Name != job.Name {
		t.Errorf("name changed within the minute: %s", again.Name)
	}
	job.Labels["app"] = "changed"
	if cj.Spec.JobTemplate.Labels["app"] != "report" {
		t.Error("the Job shares the template's label map")
	}
}

func TestSortByStartTime(t *testing.T) {
	at := func(h int) *metav1.Time { return &metav1.Time{Time: time.Date(2026, 1, 1, h, 0, 0, 0, time.UTC)} }
	job := func(name string, start *metav1.Time) *batchv1.Job {
		return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: batchv1.JobStatus{StartTime: start}}
	}
	jobs := []*batchv1.Job{job("never", nil), job("c", at(3)), job("b", at(1)), job("a", at(1))}
	sortByStartTime(jobs)
	var got []string
	for _, j := range jobs {
		got = append(got, j.Name)
	}
	if want := []string{"a", "b", "c", "never"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}
