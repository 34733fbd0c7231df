package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
	"github.com/capstatic/capstatic/publish/publishtest"
	"github.com/capstatic/capstatic/publish/s3"
	"github.com/capstatic/capstatic/resolver"
)

// This file holds the crash test and the machinery it shares with the
// concurrency test: a helper process (this test binary, re-executed) that
// publishes through a store wrapper able to stop it at a chosen write, trees
// on a versitygw S3 server (see [publishtest.StartVersityGW]), and checks of
// what a resolver serves from a tree.

// helperEnv is set in the environment of the helper process to its spec.
const helperEnv = "CAPSTATIC_TEST_HELPER"

// helperSpec tells the helper process what to publish and where to stop.
type helperSpec struct {
	// Store holds the store flags (--store and friends).
	Store []string
	// App, Version, Channel and Build are the release.
	App, Version, Channel, Build string
	// StopAt, when positive, stops the helper at its StopAt-th write (Put,
	// Swap or Delete, counted from 1): it prints "STOP n key" and blocks, for
	// the parent to kill it. During stops it half way through the write's
	// bytes instead of before the write.
	StopAt int
	During bool
	// Gate makes the helper print "GATE" before its first Swap and wait for
	// its stdin to close.
	Gate bool
	// Run, when set, runs the command line Run(Run...) instead.
	Run []string
}

// TestHelperProcess is the helper process; it is skipped in a normal run.
func TestHelperProcess(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		t.Skip("the helper process of the crash and concurrency tests")
	}
	var spec helperSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	os.Exit(helperMain(spec))
}

// helperMain publishes spec the way "capstatic publish" does, through a
// faultStore, and returns the exit status Run would.
func helperMain(spec helperSpec) int {
	ctx := context.Background()
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	if spec.Run != nil {
		return Run(ctx, spec.Run, os.Stdin, os.Stdout, os.Stderr)
	}
	var sf storeFlags
	fs := pflag.NewFlagSet("helper", pflag.ContinueOnError)
	sf.add(fs)
	if err := fs.Parse(spec.Store); err != nil {
		return exitCode(e, "publish", usageError{err})
	}
	store, err := sf.open(ctx, e)
	if err != nil {
		return exitCode(e, "publish", err)
	}
	fault := &faultStore{Store: store, sw: store.(publish.Swapper), ls: store.(publish.Lister),
		stopAt: int64(spec.StopAt), during: spec.During, gate: spec.Gate}
	pub := &publish.Publisher{Store: fault}
	_, err = pub.Publish(ctx, publish.Release{App: spec.App, Version: spec.Version, Channel: spec.Channel,
		Build: os.DirFS(spec.Build), Level: 5})
	return exitCode(e, "publish", err)
}

// faultStore wraps a store to stop the process at a chosen write.
type faultStore struct {
	publish.Store
	sw     publish.Swapper
	ls     publish.Lister
	stopAt int64
	during bool
	gate   bool
	writes atomic.Int64
	gated  sync.Once
}

// write counts one write of key and stops the process when it is the
// chosen one: at once, or once half of r's size bytes have been read.
func (f *faultStore) write(key string, r io.Reader, size int64) io.Reader {
	n := f.writes.Add(1)
	if n != f.stopAt {
		return r
	}
	if !f.during {
		stop(n, key)
	}
	return &stallReader{r: r, left: max(size/2, 1), stop: func() { stop(n, key) }}
}

// stop tells the parent where the process stands and blocks until killed.
func stop(n int64, key string) {
	fmt.Fprintf(os.Stdout, "STOP %d %s\n", n, key)
	os.Stdout.Sync()
	select {}
}

// stallReader passes left bytes through, then calls stop.
type stallReader struct {
	r    io.Reader
	left int64
	stop func()
}

func (s *stallReader) Read(p []byte) (int, error) {
	if s.left <= 0 {
		s.stop()
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.r.Read(p)
	s.left -= int64(n)
	return n, err
}

func (f *faultStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	return f.Store.Put(ctx, key, f.write(key, r, size), size)
}

func (f *faultStore) Delete(ctx context.Context, key string) error {
	if n := f.writes.Add(1); n == f.stopAt {
		stop(n, key)
	}
	return f.Store.Delete(ctx, key)
}

func (f *faultStore) Swap(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) error {
	if f.gate {
		f.gated.Do(func() {
			fmt.Fprintln(os.Stdout, "GATE")
			os.Stdout.Sync()
			io.Copy(io.Discard, os.Stdin)
		})
	}
	return f.sw.Swap(ctx, key, f.write(key, r, size), size, ifMatch)
}

func (f *faultStore) List(ctx context.Context, prefix string, fn func(string, publish.Info) error) error {
	return f.ls.List(ctx, prefix, fn)
}

// child is a running helper process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // stdout, line by line; closed at EOF
	stderr *syncBuffer
	done   chan struct{}
	code   int
}

// startHelper starts the helper process on spec, with extra environment.
func startHelper(t *testing.T, spec helperSpec, extraEnv ...string) *child {
	t.Helper()
	raw, err := json.Marshal(spec)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	// Under -race, a process that exits sleeps a second for late reports.
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+string(raw), "GORACE="+gorace), extraEnv...)
	c := &child{cmd: cmd, lines: make(chan string, 1024), stderr: new(syncBuffer), done: make(chan struct{})}
	cmd.Stderr = c.stderr
	c.stdin, err = cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		err := cmd.Wait()
		c.code = cmd.ProcessState.ExitCode()
		if errors.As(err, new(*exec.ExitError)) && c.code == -1 {
			c.code = -int(cmd.ProcessState.Sys().(syscall.WaitStatus).Signal())
		}
		close(c.done)
	}()
	t.Cleanup(func() { c.kill() })
	return c
}

// next returns the next line the helper prints with one of the prefixes,
// or false when it exits without printing one.
func (c *child) next(t *testing.T, prefixes ...string) (string, bool) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				return "", false
			}
			for _, p := range prefixes {
				if strings.HasPrefix(line, p) {
					return line, true
				}
			}
		case <-timeout:
			t.Fatalf("the helper printed none of %q in 30s; stderr:\n%s", prefixes, c.stderr)
		}
	}
}

// kill sends SIGKILL and waits for the process to end.
func (c *child) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// wait waits for the process to exit and returns its exit status.
func (c *child) wait(t *testing.T) int {
	t.Helper()
	c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the helper did not exit; stderr:\n%s", c.stderr)
	}
	return c.code
}

// testTree is a tree the tests publish to: the CLI's store flags, the
// environment a helper needs for them, and a way to get a folder holding
// the tree's objects for a resolver.
type testTree struct {
	flags []string
	env   []string
	local func(t *testing.T) string
}

// dirTree returns a fresh folder tree.
func dirTree(t *testing.T) testTree {
	dir := t.TempDir()
	return testTree{flags: []string{"--store", dir}, local: func(*testing.T) string { return dir }}
}

// offer returns the version the resolver offers on channel production to
// a release build on the builtin bundle, reading the tree afresh.
func offer(t *testing.T, dir, app string) string {
	t.Helper()
	cat := resolver.NewCatalog(resolver.FS(os.DirFS(dir)), resolver.URLs{Files: "http://files.test/files"}, nil)
	a, err := cat.App(context.Background(), app)
	require.NoError(t, err, "resolver catalog of %s", app)
	body, err := json.Marshal(map[string]any{"app_id": app, "device_id": "00000000-0000-4000-8000-000000000001",
		"version_name": "builtin", "version_build": "1.0.0", "plugin_version": "8.51.23", "platform": "ios",
		"is_emulator": false, "is_prod": true, "defaultChannel": ""})
	require.NoError(t, err)
	req, f := resolver.ParseRequest(body)
	require.Nil(t, f)
	d := resolver.Resolve(a, req, resolver.Overrides{})
	return d.Version()
}

// stateOf returns the current state of app in the tree at dir.
func stateOf(t *testing.T, dir, app string) *manifest.State {
	t.Helper()
	d, err := publish.NewDir(dir)
	require.NoError(t, err)
	head, err := publish.Load(context.Background(), d, app)
	require.NoError(t, err)
	return head.State
}

// TestCrash kills a publisher with SIGKILL at each of its writes, before
// the write and half way through it, on a folder and on S3 (versitygw).
// After each kill, the resolver still serves the previous release, verify
// passes, and running the same publish again completes it.
func TestCrash(t *testing.T) {
	t.Run("Dir", func(t *testing.T) { testCrash(t, func(t *testing.T, _ int) testTree { return dirTree(t) }) })
	t.Run("S3", func(t *testing.T) {
		gw := publishtest.StartVersityGW(t)
		testCrash(t, func(t *testing.T, i int) testTree { return versityTree(t, gw, fmt.Sprintf("crash-%d", i)) })
	})
}

func testCrash(t *testing.T, newTree func(t *testing.T, i int) testTree) {
	const app = "com.example.crash"
	v1, v2 := writeBuild(t, "1.0.0"), writeBuild(t, "1.0.1")
	for n := 1; ; n++ {
		completed := false
		for _, during := range []bool{false, true} {
			if completed {
				break
			}
			name := fmt.Sprintf("Write%d", n)
			if during {
				name += "Midway"
			}
			t.Run(name, func(t *testing.T) {
				tree := newTree(t, 2*n+btoi(during))
				cliMust(t, append([]string{"publish", v1, "--app", app, "--version", "1.0.0", "--quiet"}, tree.flags...)...)
				c := startHelper(t, helperSpec{Store: tree.flags, App: app, Version: "1.0.1", Channel: "production",
					Build: v2, StopAt: n, During: during}, tree.env...)
				line, stopped := c.next(t, "STOP")
				if !stopped {
					require.Equal(t, 0, c.wait(t), "helper exit status; stderr:\n%s", c.stderr)
					completed = true
					return
				}
				c.kill()
				t.Log(line)
				assert.Equal(t, "1.0.0", offer(t, tree.local(t), app), "version offered after the kill (%s)", line)
				cliMust(t, append([]string{"verify"}, tree.flags...)...)
				cliMust(t, append([]string{"publish", v2, "--app", app, "--version", "1.0.1", "--quiet"}, tree.flags...)...)
				assert.Equal(t, "1.0.1", offer(t, tree.local(t), app), "version offered after publishing again")
				cliMust(t, append([]string{"verify"}, tree.flags...)...)
			})
		}
		if completed {
			require.Greater(t, n, 4, "a publish makes at least 4 writes (objects, record, state, pointer)")
			return
		}
		require.Less(t, n, 50, "the publish never completed")
	}
}

// TestCrash_RandomKill kills "capstatic publish" itself (through Run) at
// spread-out moments of a publish to a folder: after each kill the tree
// verifies, serves one of the two releases, and publishing again
// completes the release.
func TestCrash_RandomKill(t *testing.T) {
	const app, kills = "com.example.randomkill", 8
	v1, v2 := writeBuild(t, "1.0.0"), writeBuild(t, "1.0.1")
	publishV2 := func(flags []string) []string {
		return append([]string{"publish", v2, "--app", app, "--version", "1.0.1", "--quiet"}, flags...)
	}
	tree := dirTree(t)
	cliMust(t, append([]string{"publish", v1, "--app", app, "--version", "1.0.0", "--quiet"}, tree.flags...)...)
	start := time.Now()
	c := startHelper(t, helperSpec{Run: publishV2(tree.flags)})
	require.Equal(t, 0, c.wait(t), "a publish that is not killed; stderr:\n%s", c.stderr)
	full := time.Since(start)

	for i := range kills {
		delay := full * time.Duration(i) / kills
		t.Run(fmt.Sprintf("After%v", delay.Round(time.Millisecond)), func(t *testing.T) {
			tree := dirTree(t)
			cliMust(t, append([]string{"publish", v1, "--app", app, "--version", "1.0.0", "--quiet"}, tree.flags...)...)
			c := startHelper(t, helperSpec{Run: publishV2(tree.flags)})
			time.Sleep(delay)
			c.kill()
			assert.Contains(t, []string{"1.0.0", "1.0.1"}, offer(t, tree.local(t), app), "version offered after the kill")
			cliMust(t, append([]string{"verify"}, tree.flags...)...)
			cliMust(t, publishV2(tree.flags)...)
			assert.Equal(t, "1.0.1", offer(t, tree.local(t), app))
			cliMust(t, append([]string{"verify"}, tree.flags...)...)
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// versityTree returns the tree under prefix of the gateway's bucket. Its
// local folder is a fresh download of every object, for a resolver.
func versityTree(t *testing.T, gw *publishtest.VersityGW, prefix string) testTree {
	t.Setenv("AWS_ACCESS_KEY_ID", gw.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", gw.SecretKey)
	return testTree{
		flags: []string{"--store", "s3://" + gw.Bucket + "/" + prefix, "--s3-endpoint", "http://" + gw.Endpoint,
			"--s3-region", gw.Region, "--s3-path-style"},
		env: []string{"AWS_ACCESS_KEY_ID=" + gw.AccessKey, "AWS_SECRET_ACCESS_KEY=" + gw.SecretKey},
		local: func(t *testing.T) string {
			return versityDownload(t, gw, prefix)
		},
	}
}

// versityDownload copies the tree under prefix of the gateway's bucket to a
// new folder.
func versityDownload(t *testing.T, gw *publishtest.VersityGW, prefix string) string {
	t.Helper()
	ctx := context.Background()
	s, err := s3.New(ctx, s3.Config{Endpoint: gw.Endpoint, Region: gw.Region, Bucket: gw.Bucket, Prefix: prefix,
		AccessKey: gw.AccessKey, SecretKey: gw.SecretKey, PathStyle: true, Insecure: true})
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, s.List(ctx, "", func(key string, _ publish.Info) error {
		r, err := s.Open(ctx, key)
		if err != nil {
			return err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, b, 0o644)
	}))
	return dir
}
