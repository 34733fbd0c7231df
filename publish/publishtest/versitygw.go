package publishtest

import (
	"bytes"
	"context"
	"errors"
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

// VersityGW is a versitygw S3 server (https://github.com/versity/versitygw)
// on a loopback port, serving a posix backend in a temporary folder, with
// one empty bucket. It is for tests of S3 stores against a real server.
type VersityGW struct {
	Endpoint  string // host:port on 127.0.0.1, plain HTTP
	AccessKey string
	SecretKey string
	Region    string
	Bucket    string
	// Root is the folder of the posix backend: each bucket is a folder in
	// it, each object a file in its bucket's folder.
	Root string
}

// StartVersityGW starts versitygw for the test and stops it when the test
// ends. The binary is $VERSITYGW, or versitygw on $PATH, or in
// $(go env GOPATH)/bin. Without it the test is skipped, unless $CI is set:
// CI must not pass by skipping. Install it with
//
//	go install github.com/versity/versitygw/cmd/versitygw@latest
//
// The server runs with the environment of the test, less versitygw's own
// variables (VGW_*, ROOT_*, LOGFILE, WEBHOOK), which could point it at
// remote services or change its credentials. Its output is logged if the
// test fails.
func StartVersityGW(t testing.TB) *VersityGW {
	t.Helper()
	bin := findVersityGW(t)
	gw := &VersityGW{
		AccessKey: "capstatic", SecretKey: "capstatic-secret", Region: "us-east-1",
		Bucket: "capstatic-test", Root: t.TempDir(),
	}
	// With the posix backend a bucket is a folder of the root, so the
	// bucket needs no S3 client (which this package must not import).
	require.NoError(t, os.Mkdir(filepath.Join(gw.Root, gw.Bucket), 0o755), "create bucket")
	var err error
	for range 3 { // the free port may be taken before versitygw binds it
		if gw.Endpoint, err = runVersityGW(t, bin, gw); err == nil {
			break
		}
	}
	require.NoError(t, err, "start versitygw")
	return gw
}

func findVersityGW(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("VERSITYGW"); p != "" {
		return p // a wrong path fails loudly when it is run
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", "versitygw")
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return p
			}
		}
	}
	const msg = "versitygw not found (set $VERSITYGW, or go install github.com/versity/versitygw/cmd/versitygw@latest)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// runVersityGW starts versitygw on a free loopback port and waits until it
// answers its health check. It returns an error if the process exits first.
func runVersityGW(t testing.TB, bin string, gw *VersityGW) (endpoint string, err error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	endpoint = l.Addr().String()
	require.NoError(t, l.Close())

	cmd := exec.Command(bin, "--port", endpoint, "--access", gw.AccessKey, "--secret", gw.SecretKey,
		"--region", gw.Region, "--quiet", "--health", "/health", "posix", gw.Root)
	cmd.Dir = t.TempDir()
	cmd.Env = versityGWEnv()
	out := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start(), "start %s", bin)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}

	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	for {
		if healthy(ctx, "http://"+endpoint+"/health") {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("versitygw output:\n%s", out)
				}
			})
			return endpoint, nil
		}
		select {
		case err := <-exited:
			t.Logf("versitygw exited (%v):\n%s", err, out)
			return "", errors.New("versitygw exited before answering")
		case <-ctx.Done():
			stop()
			t.Fatalf("versitygw did not answer on %s:\n%s", endpoint, out)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// versityGWEnv is the test's environment without versitygw's own variables.
func versityGWEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VGW_") && !strings.HasPrefix(kv, "ROOT_") &&
			!strings.HasPrefix(kv, "LOGFILE=") && !strings.HasPrefix(kv, "WEBHOOK=") {
			env = append(env, kv)
		}
	}
	return env
}

func healthy(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := loopbackClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// loopbackClient talks to the server directly, never through a proxy.
var loopbackClient = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}

// syncBuffer is a bytes.Buffer safe for the process's two output streams.
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
