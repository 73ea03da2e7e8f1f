package browsertest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// StartRedis starts a redis-server child process on a free loopback port,
// with an empty data directory and no persistence, and returns its
// address. It is killed, and waited for, when the test ends. Under -short
// the test is skipped, and without a redis-server binary too, unless CI is
// "true": CI installs it, so a missing one there is a failure.
//
// It speaks to the server with a bare PING, so that the core module needs
// no Redis client.
func StartRedis(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("browsertest: -short: starts no redis-server")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatal("browsertest: no redis-server in PATH, and CI=true")
		}
		tb.Skip("browsertest: no redis-server in PATH (apt-get install redis-server)")
	}
	dir := tb.TempDir()
	for attempt := 0; ; attempt++ {
		addr, err := startRedis(tb, bin, dir)
		if err == nil {
			return addr
		}
		if attempt == 4 { // a free port can be taken between the probe and the bind
			tb.Fatalf("browsertest: starting redis-server: %v", err)
		}
	}
}

func startRedis(tb testing.TB, bin, dir string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() { cmd.Process.Kill(); <-exited }

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			return "", errors.New("redis-server exited at start (port taken?)")
		default:
		}
		if ping(addr) == nil {
			tb.Cleanup(stop)
			return addr, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", errors.New("redis-server did not answer PING within 15 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ping sends PING in Redis's inline protocol and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return errors.New("PING answered " + strconv.Quote(line))
	}
	return nil
}
