package batch

import (
	"testing"
	"time"
)

func TestParseScheduleErrors(t *testing.T) {
	tests := []struct {
		spec, err string
	}{
		{"", "empty spec string"},
		{"* * * *", "expected exactly 5 fields, found 4: [* * * *]"},
		{"0 0 * * * *", "expected exactly 5 fields, found 6: [0 0 * * * *]"},
		{"60 * * * *", "end of range (60) above maximum (59): 60"},
		{"* 24 * * *", "end of range (24) above maximum (23): 24"},
		{"* * 0 * *", "beginning of range (0) below minimum (1): 0"},
		{"* * * 13 *", "end of range (13) above maximum (12): 13"},
		{"* * * * 7", "end of range (7) above maximum (6): 7"},
		{"5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"},
		{"*/0 * * * *", "step of range should be a positive number: */0"},
		{"1-2-3 * * * *", "too many hyphens: 1-2-3"},
		{"*/2/3 * * * *", "too many slashes: */2/3"},
		{"x * * * *", `failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax`},
		{"-1 * * * *", `failed to parse int from : strconv.Atoi: parsing "": invalid syntax`},
		{"@fortnightly", "unrecognized descriptor: @fortnightly"},
		{"@every 1x", `failed to parse duration @every 1x: time: unknown unit "x" in duration "1x"`},
		{"TZ=Nowhere/City 0 * * * *", "provided bad location Nowhere/City: unknown time zone Nowhere/City"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			_, err := ParseSchedule(tt.spec)
			if err == nil || err.Error() != tt.err {
				t.Fatalf("ParseSchedule(%q) error = %v, want %q", tt.spec, err, tt.err)
			}
		})
	}
}

func TestScheduleNext(t *testing.T) {
	utc := func(s string) time.Time {
		tm, err := time.Parse("2006-01-02 15:04:05", s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	// 2025-01-03 is a Friday.
	tests := []struct {
		spec, from, want string
	}{
		{"* * * * *", "2025-01-03 10:00:00", "2025-01-03 10:01:00"},
		{"* * * * *", "2025-01-03 10:00:59", "2025-01-03 10:01:00"},
		{"*/15 * * * *", "2025-01-03 10:07:00", "2025-01-03 10:15:00"},
		{"5/20 * * * *", "2025-01-03 10:26:00", "2025-01-03 10:45:00"},
		{"30 9 * * 1-5", "2025-01-03 10:00:00", "2025-01-06 09:30:00"},
		{"30 9 * * mon-FRI", "2025-01-03 09:00:00", "2025-01-03 09:30:00"},
		{"0 0 1 * *", "2025-01-03 10:00:00", "2025-02-01 00:00:00"},
		{"0 0 1,15 * *", "2025-02-01 00:00:00", "2025-02-15 00:00:00"},
		{"0 12 * jun *", "2025-01-03 10:00:00", "2025-06-01 12:00:00"},
		// Both day fields restricted: either may match (the 13th or a Friday).
		{"0 0 13 * 5", "2025-01-04 00:00:00", "2025-01-10 00:00:00"},
		// One day field is "*": both must match.
		{"0 0 * * 5", "2025-01-04 00:00:00", "2025-01-10 00:00:00"},
		{"0 0 29 2 *", "2025-01-03 00:00:00", "2028-02-29 00:00:00"},
		{"@hourly", "2025-01-03 10:30:00", "2025-01-03 11:00:00"},
		{"@daily", "2025-01-03 10:30:00", "2025-01-04 00:00:00"},
		{"@weekly", "2025-01-03 10:30:00", "2025-01-05 00:00:00"},
		{"@monthly", "2025-01-03 10:30:00", "2025-02-01 00:00:00"},
		{"@yearly", "2025-01-03 10:30:00", "2026-01-01 00:00:00"},
		{"@every 90s", "2025-01-03 10:30:00", "2025-01-03 10:31:30"},
		{"0 0 30 2 *", "2025-01-03 10:30:00", "0001-01-01 00:00:00"},
	}
	for _, tt := range tests {
		t.Run(tt.spec+"@"+tt.from, func(t *testing.T) {
			s, err := ParseSchedule(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			got := s.Next(utc(tt.from))
			if !got.Equal(utc(tt.want)) {
				t.Errorf("Next = %v, want %s", got, tt.want)
			}
		})
	}
}

func TestScheduleNextTimeZones(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSchedule("CRON_TZ=America/New_York 0 9 * * *")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2025, 1, 3, 12, 0, 0, 0, time.UTC) // 07:00 in New York
	got := s.Next(from)
	if want := time.Date(2025, 1, 3, 9, 0, 0, 0, ny); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("Next = %v, want %v in UTC", got, want)
	}

	// A 02:30 schedule on the spring-forward day (02:00-03:00 does not
	// exist) must not hang and fires the next day.
	daily, _ := ParseSchedule("30 2 * * *")
	got = daily.Next(time.Date(2025, 3, 9, 1, 0, 0, 0, ny))
	if want := time.Date(2025, 3, 10, 2, 30, 0, 0, ny); !got.Equal(want) {
		t.Errorf("DST gap: Next = %v, want %v", got, want)
	}
}

func TestZeroScheduleNeverFires(t *testing.T) {
	if got := (Schedule{}).Next(time.Now()); !got.IsZero() {
		t.Errorf("zero Schedule fired at %v", got)
	}
}
