package job

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// noIndex is what completionIndex returns for a pod without a valid
// completion index annotation.
const noIndex = -1

// completionIndexEnv is the variable Indexed Job pods read their index from.
const completionIndexEnv = "JOB_COMPLETION_INDEX"

// maxGeneratedNameLength is the longest generateName prefix the API server
// keeps whole: a name is at most 63 characters and 5 random ones are added.
const maxGeneratedNameLength = 63 - 5

func isIndexed(job *batchv1.Job) bool {
	return job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion
}

// completionIndex reads the index a pod was created for, or noIndex.
func completionIndex(pod *corev1.Pod) int {
	v, ok := pod.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		return noIndex
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return noIndex
	}
	return i
}

// validIndex reports whether pod carries an index below completions.
func validIndex(pod *corev1.Pod, completions int32) bool {
	ix := completionIndex(pod)
	return ix != noIndex && ix < int(completions)
}

// interval is a closed range of completion indexes [first, last].
type interval struct{ first, last int }

// intervals is a sorted list of disjoint, non-adjacent intervals: the
// representation of status.completedIndexes and status.failedIndexes.
type intervals []interval

// parseIntervals reads the "1,3-5,7" form, dropping whatever is at or above
// completions (an Indexed Job scaled down forgets the indexes it dropped)
// and skipping malformed pieces rather than failing the whole Job.
func parseIntervals(s string, completions int) intervals {
	if s == "" {
		return nil
	}
	var out intervals
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		if err != nil || first < 0 {
			continue
		}
		if first >= completions {
			break
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(hi); err != nil || last < first {
				continue
			}
			last = min(last, completions-1)
		}
		out = out.merge(intervals{{first, last}})
	}
	return out
}

// String renders the canonical form: ranges of three or more as "a-b", two
// neighbours as "a,b". Example: {0-2, 4-5, 7} → "0-2,4,5,7".
func (iv intervals) String() string {
	var b strings.Builder
	for _, r := range iv {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(r.first))
		switch {
		case r.last == r.first+1:
			b.WriteByte(',')
			b.WriteString(strconv.Itoa(r.last))
		case r.last > r.first:
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(r.last))
		}
	}
	return b.String()
}

// total counts the indexes covered.
func (iv intervals) total() int {
	n := 0
	for _, r := range iv {
		n += r.last - r.first + 1
	}
	return n
}

// has reports whether ix is covered, by binary search.
func (iv intervals) has(ix int) bool {
	i := sort.Search(len(iv), func(i int) bool { return iv[i].last >= ix })
	return i < len(iv) && iv[i].first <= ix
}

// withIndexes returns iv plus the given indexes (in any order).
func (iv intervals) withIndexes(ixs []int) intervals {
	add := make(intervals, 0, len(ixs))
	for _, ix := range ixs {
		add = append(add, interval{ix, ix})
	}
	slices.SortFunc(add, func(a, b interval) int { return a.first - b.first })
	return iv.merge(add)
}

// merge returns the union of two sorted interval lists, joining ranges that
// overlap or touch: {0-2} ∪ {3, 5} = {0-3, 5}.
func (iv intervals) merge(other intervals) intervals {
	all := make(intervals, 0, len(iv)+len(other))
	all = append(all, iv...)
	all = append(all, other...)
	slices.SortStableFunc(all, func(a, b interval) int { return a.first - b.first })
	var out intervals
	for _, r := range all {
		if n := len(out); n > 0 && r.first <= out[n-1].last+1 {
			out[n-1].last = max(out[n-1].last, r.last)
			continue
		}
		out = append(out, r)
	}
	return out
}

// firstPending returns up to count indexes below completions that are in
// none of the busy lists, lowest first. Example: completions=6, busy
// {0-1, 3}, count=2 → [2, 4].
func firstPending(count, completions int, busy intervals) []int {
	var out []int
	candidate := 0
	for _, r := range busy {
		for ; candidate < completions && len(out) < count && candidate < r.first; candidate++ {
			out = append(out, candidate)
		}
		candidate = max(candidate, r.last+1)
	}
	for ; candidate < completions && len(out) < count; candidate++ {
		out = append(out, candidate)
	}
	return out
}

// indexesOf returns the valid completion indexes of pods.
func indexesOf(pods []*corev1.Pod) []int {
	var out []int
	for _, p := range pods {
		if ix := completionIndex(p); ix != noIndex {
			out = append(out, ix)
		}
	}
	return out
}

// redundantIndexedPods picks the active pods an Indexed Job must delete
// whatever its parallelism: pods without an index or with one at or above
// completions, and all but the best-ranked pod of an index that runs
// twice. It returns them and the pods that remain.
func redundantIndexedPods(pods []*corev1.Pod, completions int32) (remove, keep []*corev1.Pod) {
	byIndex := map[int][]*corev1.Pod{}
	for _, p := range pods {
		if !validIndex(p, completions) {
			remove = append(remove, p)
			continue
		}
		ix := completionIndex(p)
		byIndex[ix] = append(byIndex[ix], p)
	}
	ixs := make([]int, 0, len(byIndex))
	for ix := range byIndex {
		ixs = append(ixs, ix)
	}
	sort.Ints(ixs)
	for _, ix := range ixs {
		group := byIndex[ix]
		// Deletion order puts the least valuable first; keep the last.
		sortForDeletion(group)
		remove = append(remove, group[:len(group)-1]...)
		keep = append(keep, group[len(group)-1])
	}
	return remove, keep
}

// podGenerateName is "<job>-<index>-", with the Job name cut so that the
// index survives the API server's truncation of long prefixes.
func podGenerateName(jobName string, index int) string {
	suffix := "-" + strconv.Itoa(index) + "-"
	if len(jobName)+len(suffix) > maxGeneratedNameLength {
		jobName = jobName[:maxGeneratedNameLength-len(suffix)]
	}
	return jobName + suffix
}
