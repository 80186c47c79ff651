package image

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
)

// PauseRef is the reference of the sandbox ("pause") image Skiff builds.
// The containerd configuration names it as sandbox_image; it lives under a
// name no registry serves, so a missing image fails loudly instead of being
// pulled from somewhere else.
const PauseRef = "skiff.local/pause:1"

// Pause writes the sandbox image to w: a single static executable, /pause,
// that installs handlers for SIGINT and SIGTERM (exit 0) and SIGCHLD (reap
// every exited child), then sleeps in pause(2) forever. Handlers matter
// because the kernel drops default-action signals sent to a PID namespace's
// init; reaping matters when pods share a PID namespace.
func Pause(ref string, w io.Writer) error {
	bin, err := PauseBinary(runtime.GOARCH)
	if err != nil {
		return err
	}
	return Build(ref, Spec{
		Files:      []File{{Path: "/pause", Mode: 0o755, Content: bin}},
		Entrypoint: []string{"/pause"},
		Labels:     map[string]string{"dev.skiff.image": "pause"},
	}, w)
}

// PauseBinary returns the pause executable for goarch. See doc.go for why
// it is assembled here rather than compiled.
func PauseBinary(goarch string) ([]byte, error) {
	if goarch != "amd64" {
		return nil, fmt.Errorf("pause image: no pause program for GOARCH %s (only amd64)", goarch)
	}
	return pauseAMD64(), nil
}

// Linux x86-64 system call numbers and constants (asm/unistd_64.h,
// asm/signal.h).
const (
	sysRtSigreturn = 15
	sysRtSigaction = 13
	sysPause       = 34
	sysWait4       = 61
	sysExitGroup   = 231

	sigINT  = 2
	sigTERM = 15
	sigCHLD = 17

	saNoCldStop = 0x1
	saRestorer  = 0x04000000
	wNoHang     = 1
)

// pauseBase is where the whole file is mapped; code starts after the ELF
// and program headers.
const (
	pauseBase    = 0x400000
	elfHeaderLen = 64 + 56
)

// pauseAMD64 assembles the pause program. In C it is:
//
//	sigaction(SIGTERM, {on_exit}); sigaction(SIGINT, {on_exit});
//	sigaction(SIGCHLD, {on_reap, SA_NOCLDSTOP});
//	for (;;) pause();
//	on_exit: exit_group(0)
//	on_reap: while (wait4(-1, NULL, WNOHANG, NULL) > 0) ;
//
// The raw rt_sigaction system call needs SA_RESTORER and a restorer that
// calls rt_sigreturn (what libc normally supplies): the kernel "returns"
// from a handler into it.
func pauseAMD64() []byte {
	var a asm
	for _, s := range []struct {
		sig int32
		act string
	}{{sigTERM, "sa_exit"}, {sigINT, "sa_exit"}, {sigCHLD, "sa_reap"}} {
		a.movEAX(sysRtSigaction)
		a.emit(0xbf).imm32(s.sig)   // mov edi, sig
		a.emit(0x48, 0x8d, 0x35)    // lea rsi, [rip+act]
		a.rel32(s.act)              //
		a.emit(0x31, 0xd2)          // xor edx, edx (no old action)
		a.emit(0x41, 0xba).imm32(8) // mov r10d, 8 (sizeof sigset_t)
		a.syscall()                 //
	}
	a.label("loop")
	a.movEAX(sysPause)
	a.syscall()
	a.emit(0xeb).rel8("loop") // jmp loop

	a.label("on_exit")
	a.emit(0x31, 0xff) // xor edi, edi
	a.movEAX(sysExitGroup)
	a.syscall()

	a.label("on_reap")
	a.emit(0xbf).imm32(-1)       // mov edi, -1 (any child)
	a.emit(0x31, 0xf6)           // xor esi, esi (no status)
	a.emit(0xba).imm32(wNoHang)  // mov edx, WNOHANG
	a.emit(0x45, 0x31, 0xd2)     // xor r10d, r10d (no rusage)
	a.movEAX(sysWait4)           //
	a.syscall()                  //
	a.emit(0x48, 0x85, 0xc0)     // test rax, rax
	a.emit(0x7f).rel8("on_reap") // jg on_reap: reaped one, try again
	a.emit(0xc3)                 // ret, into the restorer
	a.label("restorer")
	a.movEAX(sysRtSigreturn)
	a.syscall()

	// struct kernel_sigaction { handler, flags, restorer, mask }.
	for _, act := range []struct {
		name, handler string
		flags         uint64
	}{{"sa_exit", "on_exit", saRestorer}, {"sa_reap", "on_reap", saRestorer | saNoCldStop}} {
		a.align(8)
		a.label(act.name)
		a.abs64(act.handler)
		a.imm64(act.flags)
		a.abs64("restorer")
		a.imm64(0) // block nothing extra while handling
	}
	code := a.link(pauseBase + elfHeaderLen)
	return elfExecutable(code)
}

// elfExecutable wraps position-fixed code in a minimal static ELF: one
// read+execute PT_LOAD segment mapping the whole file at pauseBase.
func elfExecutable(code []byte) []byte {
	size := uint64(elfHeaderLen + len(code))
	h := elf.Header64{
		Type:      uint16(elf.ET_EXEC),
		Machine:   uint16(elf.EM_X86_64),
		Version:   uint32(elf.EV_CURRENT),
		Entry:     pauseBase + elfHeaderLen,
		Phoff:     64,
		Ehsize:    64,
		Phentsize: 56,
		Phnum:     1,
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	p := elf.Prog64{
		Type:   uint32(elf.PT_LOAD),
		Flags:  uint32(elf.PF_R | elf.PF_X),
		Vaddr:  pauseBase,
		Paddr:  pauseBase,
		Filesz: size,
		Memsz:  size,
		Align:  0x1000,
	}
	var buf bytes.Buffer
	// Writes to a bytes.Buffer cannot fail.
	_ = binary.Write(&buf, binary.LittleEndian, h)
	_ = binary.Write(&buf, binary.LittleEndian, p)
	buf.Write(code)
	return buf.Bytes()
}
