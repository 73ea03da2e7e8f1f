//go:build !linux

package main

import (
	"errors"
	"runtime"
)

// errNoProc is what the measurements that read /proc return elsewhere: the
// tool still drives a server, but cannot read its CPU time or memory, nor
// pin processes.
var errNoProc = errors.New("needs Linux's /proc and sched_setaffinity")

func processCPU(int) (float64, error) { return 0, errNoProc }
func processRSS(int) (int64, error)   { return 0, errNoProc }
func cpuModel() string                { return "unknown" }
func kernel() string                  { return runtime.GOOS }
func allowedCPUs() ([]int, error)     { return nil, errNoProc }
func pinProcess([]int) error          { return errNoProc }
