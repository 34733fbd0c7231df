package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// cliRun runs the capstatic command in-process and returns its exit code
// and output.
func cliRun(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	if dir != "" {
		t.Chdir(dir)
	}
	code := Run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// cliMust runs the command and fails the test unless it exits 0.
func cliMust(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := cliRun(t, "", args...)
	require.Equal(t, 0, code, "capstatic %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), out, errs)
	return out
}

// cliServe runs "capstatic serve" on a free loopback port until the test
// ends and returns its base URL.
func cliServe(t *testing.T, args ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out, errb syncBuffer
	go func() {
		done <- Run(ctx, append([]string{"serve", "--addr", addr, "--stats", "none"}, args...), nil, &out, &errb)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("serve did not shut down")
		}
	})
	base := "http://" + addr
	for i := 0; ; i++ {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			return base
		}
		require.Less(t, i, 200, "serve never answered: %s", errb.String())
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// capgoCLI returns the path of the real @capgo/cli binary: $CAPGO_CLI, or
// .cache/capgo/node_modules/.bin/capgo at the module root (make tools
// installs it). It skips the test when missing, and fails it under CI.
func capgoCLI(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CAPGO_CLI"); p != "" {
		return p
	}
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	p := filepath.Join(root, ".cache", "capgo", "node_modules", ".bin", "capgo")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("the capgo CLI is missing (%s): run make tools", p)
	}
	t.Skipf("the capgo CLI is missing (%s): run make tools", p)
	return ""
}

// capgoRun runs the CLI in dir with stdin closed, reaching loopback only.
func capgoRun(t *testing.T, cli, dir string, args ...string) (string, error) {
	t.Helper()
	preload, err := filepath.Abs("testdata/capgo/loopback.cjs")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "CAPGO_DISABLE_TELEMETRY=1", "CAPGO_TOKEN=", "NODE_OPTIONS=--require="+preload)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
