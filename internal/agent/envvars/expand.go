package envvars

import "strings"

// Expand replaces $(VAR) references in input using mapping, following
// upstream's third_party/forked/golang/expansion rules: "$$" is an escaped
// "$", an unknown or unclosed reference is left as written, and a "$" that
// does not start a reference is kept.
func Expand(input string, mapping func(string) (string, bool)) string {
	if !strings.Contains(input, "$") {
		return input
	}
	var buf strings.Builder
	checkpoint := 0
	for cursor := 0; cursor < len(input); cursor++ {
		if input[cursor] != '$' || cursor+1 >= len(input) {
			continue
		}
		buf.WriteString(input[checkpoint:cursor])
		read, isVar, advance := readReference(input[cursor+1:])
		if isVar {
			if v, ok := mapping(read); ok {
				buf.WriteString(v)
			} else {
				buf.WriteString("$(" + read + ")")
			}
		} else {
			buf.WriteString(read)
		}
		cursor += advance
		checkpoint = cursor + 1
	}
	buf.WriteString(input[checkpoint:])
	return buf.String()
}

// readReference reads what follows a "$": it returns the variable name and
// true for "(NAME)", or the literal text to emit; advance is how many bytes
// of input were consumed.
func readReference(input string) (read string, isVar bool, advance int) {
	switch input[0] {
	case '$':
		return "$", false, 1
	case '(':
		for i := 1; i < len(input); i++ {
			if input[i] == ')' {
				return input[1:i], true, i + 1
			}
		}
		return "$(", false, 1
	default:
		return "$" + input[0:1], false, 1
	}
}

// mapFrom looks a name up in the given maps in order.
func mapFrom(maps ...map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		for _, m := range maps {
			if v, ok := m[name]; ok {
				return v, true
			}
		}
		return "", false
	}
}
