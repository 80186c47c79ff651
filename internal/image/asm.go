package image

import (
	"encoding/binary"
	"fmt"
)

// asm is just enough of an x86-64 assembler for the pause program: raw
// bytes plus labels, with jumps and addresses patched in by link.
type asm struct {
	code   []byte
	labels map[string]int
	fixups []fixup
}

type fixupKind int

const (
	fixRel8  fixupKind = iota // signed displacement from the end of the byte
	fixRel32                  // signed displacement from the end of the 4 bytes
	fixAbs64                  // absolute virtual address
)

type fixup struct {
	at    int
	label string
	kind  fixupKind
}

func (a *asm) emit(b ...byte) *asm { a.code = append(a.code, b...); return a }

func (a *asm) imm32(v int32) *asm {
	a.code = binary.LittleEndian.AppendUint32(a.code, uint32(v))
	return a
}

func (a *asm) imm64(v uint64) *asm {
	a.code = binary.LittleEndian.AppendUint64(a.code, v)
	return a
}

func (a *asm) movEAX(v int32) { a.emit(0xb8).imm32(v) } // mov eax, imm32
func (a *asm) syscall()       { a.emit(0x0f, 0x05) }

func (a *asm) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[name] = len(a.code)
}

func (a *asm) align(n int) {
	for len(a.code)%n != 0 {
		a.emit(0xcc) // int3: never executed, traps if it were
	}
}

func (a *asm) rel8(label string) {
	a.fixups = append(a.fixups, fixup{len(a.code), label, fixRel8})
	a.emit(0)
}

func (a *asm) rel32(label string) {
	a.fixups = append(a.fixups, fixup{len(a.code), label, fixRel32})
	a.imm32(0)
}

func (a *asm) abs64(label string) {
	a.fixups = append(a.fixups, fixup{len(a.code), label, fixAbs64})
	a.imm64(0)
}

// link patches every fixup for code loaded at base. A missing label or an
// out-of-range short jump is a bug in the program text, hence the panic.
func (a *asm) link(base uint64) []byte {
	for _, f := range a.fixups {
		target, ok := a.labels[f.label]
		if !ok {
			panic(fmt.Sprintf("asm: undefined label %q", f.label))
		}
		switch f.kind {
		case fixRel8:
			d := target - (f.at + 1)
			if d < -128 || d > 127 {
				panic(fmt.Sprintf("asm: jump to %q out of rel8 range", f.label))
			}
			a.code[f.at] = byte(int8(d))
		case fixRel32:
			binary.LittleEndian.PutUint32(a.code[f.at:], uint32(int32(target-(f.at+4))))
		case fixAbs64:
			binary.LittleEndian.PutUint64(a.code[f.at:], base+uint64(target))
		}
	}
	return a.code
}
