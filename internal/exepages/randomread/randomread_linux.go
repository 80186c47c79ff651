//go:build linux

package randomread

import "syscall"

func init() {
	var buf [4096]byte
	n, err := syscall.Readlink("/proc/self/exe", buf[:])
	if err != nil || n == len(buf) {
		return
	}
	exe := string(buf[:n])
	fd, err := syscall.Open("/proc/self/maps", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer syscall.Close(fd)
	var maps []byte
	for {
		n, err := syscall.Read(fd, buf[:])
		if n <= 0 || err != nil {
			break
		}
		maps = append(maps, buf[:n]...)
	}
	for len(maps) > 0 {
		line := maps
		if i := indexByte(maps, '\n'); i >= 0 {
			line, maps = maps[:i], maps[i+1:]
		} else {
			maps = nil
		}
		start, end, ok := executableRange(line, exe)
		if !ok {
			continue
		}
		syscall.Syscall(syscall.SYS_MADVISE, start, end-start, syscall.MADV_RANDOM) //nolint:errcheck // advice only
	}
}

// executableRange parses one /proc/self/maps line and returns its address
// range when it maps exe.
func executableRange(line []byte, exe string) (start, end uintptr, ok bool) {
	// address perms offset dev inode pathname; the path starts at the
	// first '/' after the inode and runs to the end of the line.
	i := indexByte(line, '/')
	if i < 0 || string(line[i:]) != exe {
		return 0, 0, false
	}
	start, rest, ok := hex(line)
	if !ok || len(rest) == 0 || rest[0] != '-' {
		return 0, 0, false
	}
	end, _, ok = hex(rest[1:])
	return start, end, ok && end > start
}

func hex(b []byte) (uintptr, []byte, bool) {
	var v uintptr
	i := 0
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | uintptr(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | uintptr(c-'a'+10)
		default:
			return v, b[i:], i > 0
		}
	}
	return v, b[i:], i > 0
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
