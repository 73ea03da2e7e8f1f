package main

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Parsers of Linux's /proc files (sys_linux.go reads them); here so that
// they are tested everywhere.

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// parseStatCPU reads utime and stime (fields 14 and 15) of a
// /proc/<pid>/stat line, in seconds. The command name (field 2) may hold
// spaces and parentheses, so fields are counted after its last ')'.
func parseStatCPU(b []byte) (float64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat line")
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state); utime is field 14, stime 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("malformed stat line")
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed stat line")
	}
	return float64(utime+stime) / clockTicks, nil
}

// parseVmRSS reads VmRSS of a /proc/<pid>/status file, in KiB.
func parseVmRSS(b []byte) (int64, error) {
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		name, value, ok := strings.Cut(s.Text(), ":")
		if !ok || name != "VmRSS" {
			continue
		}
		f := strings.Fields(value)
		if len(f) != 2 || f[1] != "kB" {
			break
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("no VmRSS line")
}
