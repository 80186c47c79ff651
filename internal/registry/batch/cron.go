package batch

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	// Time zones must resolve the same on every host, including minimal
	// containers without /usr/share/zoneinfo; upstream embeds tzdata for
	// CronJob timeZone for the same reason.
	_ "time/tzdata"
)

// Schedule is a parsed five-field cron schedule (minute hour day-of-month
// month day-of-week), or an "@every <duration>" interval. The zero value
// never fires: Next returns the zero time.
//
// The syntax and error messages are those of github.com/robfig/cron/v3's
// ParseStandard, which upstream CronJobs use: ranges "1-5", steps "*/15"
// and "10-50/20", lists "1,15", "?" as "*", month and weekday names
// (jan..dec, sun..sat, any case), weekdays 0-6 (7 is not Sunday), the
// @yearly/@annually/@monthly/@weekly/@daily/@midnight/@hourly macros, and
// a leading "TZ=<zone> " or "CRON_TZ=<zone> " (which CronJob validation
// rejects on new objects, but old objects may still carry).
type Schedule struct {
	// Bit i of a field is set when value i matches; starBit records that
	// the field was written "*" or "?" (it changes how the two day fields
	// combine, see dayMatches).
	minute, hour, dom, month, dow uint64
	// loc is the zone the schedule is read in; nil means the zone of the
	// time passed to Next.
	loc *time.Location
	// every is the interval of an "@every" schedule, whole seconds.
	every time.Duration
}

const starBit = 1 << 63

type bounds struct {
	min, max uint
	names    map[string]uint
}

var (
	minutes = bounds{0, 59, nil}
	hours   = bounds{0, 23, nil}
	doms    = bounds{1, 31, nil}
	months  = bounds{1, 12, map[string]uint{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
	}}
	dows = bounds{0, 6, map[string]uint{
		"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
	}}
)

// ParseSchedule parses a cron schedule as upstream's CronJob controller does.
func ParseSchedule(spec string) (Schedule, error) {
	if spec == "" {
		return Schedule{}, errors.New("empty spec string")
	}
	var loc *time.Location
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		eq := strings.Index(spec, "=")
		sp := strings.Index(spec, " ")
		if sp < 0 {
			return Schedule{}, fmt.Errorf("provided bad location %s: missing schedule after the time zone", spec[eq+1:])
		}
		l, err := time.LoadLocation(spec[eq+1 : sp])
		if err != nil {
			return Schedule{}, fmt.Errorf("provided bad location %s: %v", spec[eq+1:sp], err)
		}
		loc = l
		spec = strings.TrimSpace(spec[sp:])
	}
	if strings.HasPrefix(spec, "@") {
		return parseDescriptor(spec, loc)
	}
	f := strings.Fields(spec)
	if len(f) != 5 {
		return Schedule{}, fmt.Errorf("expected exactly 5 fields, found %d: %s", len(f), f)
	}
	s := Schedule{loc: loc}
	var err error
	for i, dst := range []struct {
		bits *uint64
		b    bounds
	}{{&s.minute, minutes}, {&s.hour, hours}, {&s.dom, doms}, {&s.month, months}, {&s.dow, dows}} {
		if *dst.bits, err = parseField(f[i], dst.b); err != nil {
			return Schedule{}, err
		}
	}
	return s, nil
}

// parseField parses a comma-separated list of ranges into a bit set.
func parseField(field string, b bounds) (uint64, error) {
	var bits uint64
	for _, expr := range strings.FieldsFunc(field, func(r rune) bool { return r == ',' }) {
		r, err := parseRange(expr, b)
		if err != nil {
			return 0, err
		}
		bits |= r
	}
	return bits, nil
}

// parseRange parses "*", "N", "N-M", each optionally followed by "/step".
// "N/step" means "N-max/step", as in Vixie cron.
func parseRange(expr string, b bounds) (uint64, error) {
	rangeAndStep := strings.Split(expr, "/")
	lowAndHigh := strings.Split(rangeAndStep[0], "-")
	var start, end, step uint
	var extra uint64
	var err error
	if lowAndHigh[0] == "*" || lowAndHigh[0] == "?" {
		start, end, extra = b.min, b.max, starBit
	} else {
		if start, err = parseIntOrName(lowAndHigh[0], b.names); err != nil {
			return 0, err
		}
		switch len(lowAndHigh) {
		case 1:
			end = start
		case 2:
			if end, err = parseIntOrName(lowAndHigh[1], b.names); err != nil {
				return 0, err
			}
		default:
			return 0, fmt.Errorf("too many hyphens: %s", expr)
		}
	}
	switch len(rangeAndStep) {
	case 1:
		step = 1
	case 2:
		if step, err = parseUint(rangeAndStep[1]); err != nil {
			return 0, err
		}
		if len(lowAndHigh) == 1 {
			end = b.max
		}
		// "*/2" is not "every value", so it must not count as a star.
		if step > 1 {
			extra = 0
		}
	default:
		return 0, fmt.Errorf("too many slashes: %s", expr)
	}
	switch {
	case start < b.min:
		return 0, fmt.Errorf("beginning of range (%d) below minimum (%d): %s", start, b.min, expr)
	case end > b.max:
		return 0, fmt.Errorf("end of range (%d) above maximum (%d): %s", end, b.max, expr)
	case start > end:
		return 0, fmt.Errorf("beginning of range (%d) beyond end of range (%d): %s", start, end, expr)
	case step == 0:
		return 0, fmt.Errorf("step of range should be a positive number: %s", expr)
	}
	var bits uint64
	for i := start; i <= end; i += step {
		bits |= 1 << i
	}
	return bits | extra, nil
}

func parseIntOrName(expr string, names map[string]uint) (uint, error) {
	if n, ok := names[strings.ToLower(expr)]; ok {
		return n, nil
	}
	return parseUint(expr)
}

func parseUint(expr string) (uint, error) {
	n, err := strconv.Atoi(expr)
	if err != nil {
		return 0, fmt.Errorf("failed to parse int from %s: %s", expr, err)
	}
	if n < 0 {
		return 0, fmt.Errorf("negative number (%d) not allowed: %s", n, expr)
	}
	return uint(n), nil
}

func all(b bounds) uint64 {
	var bits uint64
	for i := b.min; i <= b.max; i++ {
		bits |= 1 << i
	}
	return bits | starBit
}

// parseDescriptor expands the @-macros to the field sets they stand for.
func parseDescriptor(spec string, loc *time.Location) (Schedule, error) {
	at := func(minute, hour, dom, month, dow uint64) Schedule {
		return Schedule{minute: minute, hour: hour, dom: dom, month: month, dow: dow, loc: loc}
	}
	switch spec {
	case "@yearly", "@annually":
		return at(1<<0, 1<<0, 1<<1, 1<<1, all(dows)), nil
	case "@monthly":
		return at(1<<0, 1<<0, 1<<1, all(months), all(dows)), nil
	case "@weekly":
		return at(1<<0, 1<<0, all(doms), all(months), 1<<0), nil
	case "@daily", "@midnight":
		return at(1<<0, 1<<0, all(doms), all(months), all(dows)), nil
	case "@hourly":
		return at(1<<0, all(hours), all(doms), all(months), all(dows)), nil
	}
	const every = "@every "
	if strings.HasPrefix(spec, every) {
		d, err := time.ParseDuration(spec[len(every):])
		if err != nil {
			return Schedule{}, fmt.Errorf("failed to parse duration %s: %s", spec, err)
		}
		// Intervals run at whole seconds and at least a second apart.
		d = max(d, time.Second)
		return Schedule{every: d - d%time.Second, loc: loc}, nil
	}
	return Schedule{}, fmt.Errorf("unrecognized descriptor: %s", spec)
}

// Next returns the first activation strictly after t, in t's location, or
// the zero time if there is none within five years (for example
// "0 0 30 2 *", February 30th).
//
// It walks forward from the next whole minute, jumping a month, a day or
// an hour whenever that field cannot match. Worked example for "30 9 * *
// 1-5" from Friday 10:00: day Fri matches, hour 10 does not, so jump to
// 11:00, ... 00:00 Saturday; Saturday and Sunday fail the weekday and jump
// a day each; Monday 00:00 then 09:00 then 09:30 is the answer.
func (s Schedule) Next(t time.Time) time.Time {
	if s.every > 0 {
		return t.Add(s.every - time.Duration(t.Nanosecond()))
	}
	if s.minute == 0 {
		return time.Time{}
	}
	origin := t.Location()
	loc := s.loc
	if loc == nil {
		loc = origin
	}
	t = t.In(loc).Truncate(time.Second)
	t = t.Add(time.Duration(60-t.Second()) * time.Second) // next whole minute
	limit := t.Year() + 5
	for t.Year() <= limit {
		var next time.Time
		switch {
		case s.month&(1<<uint(t.Month())) == 0:
			next = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc)
		case !s.dayMatches(t):
			next = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
		case s.hour&(1<<uint(t.Hour())) == 0:
			next = t.Add(time.Duration(60-t.Minute()) * time.Minute)
		case s.minute&(1<<uint(t.Minute())) == 0:
			next = t.Add(time.Minute)
		default:
			return t.In(origin)
		}
		// time.Date may resolve a wall time inside a daylight-saving gap
		// to an instant at or before t; always make progress.
		if !next.After(t) {
			next = t.Add(time.Minute)
		}
		t = next
	}
	return time.Time{}
}

// dayMatches combines the two day fields as cron always has: if either is
// "*", both must match; otherwise a day matching either one fires, so
// "0 0 1 * mon" runs on the 1st and on every Monday.
func (s Schedule) dayMatches(t time.Time) bool {
	dom := s.dom&(1<<uint(t.Day())) != 0
	dow := s.dow&(1<<uint(t.Weekday())) != 0
	if s.dom&starBit != 0 || s.dow&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}
