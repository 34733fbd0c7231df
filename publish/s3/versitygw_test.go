package s3_test

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

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/stretchr/testify/require"
)

// gateway is a versitygw S3 server on a loopback port, serving a posix
// backend in a temporary folder, with one empty bucket.
type gateway struct {
	Endpoint  string // host:port, plain HTTP
	AccessKey string
	SecretKey string
	Region    string
	Bucket    string
}

// startGateway starts versitygw for the test and stops it when the test
// ends. The binary is $VERSITYGW, or versitygw on $PATH, or in
// $(go env GOPATH)/bin. Without it the test is skipped, unless $CI is set:
// CI must not pass by skipping. Install it with
//
//	go install github.com/versity/versitygw/cmd/versitygw@latest
func startGateway(t *testing.T) gateway {
	t.Helper()
	bin := findGateway(t)
	gw := gateway{AccessKey: "capstatic", SecretKey: "capstatic-secret", Region: "us-east-1", Bucket: "capstatic-test"}
	root := t.TempDir()
	var err error
	for range 3 { // the free port may be taken before versitygw binds it
		if gw.Endpoint, err = runGateway(t, bin, root, gw); err == nil {
			break
		}
	}
	require.NoError(t, err, "start versitygw")
	c := gw.client(t)
	require.NoError(t, c.MakeBucket(t.Context(), gw.Bucket, minio.MakeBucketOptions{Region: gw.Region}), "create bucket")
	return gw
}

func findGateway(t *testing.T) string {
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

// runGateway starts versitygw on a free loopback port and waits until it
// answers its health check. It returns an error if the process exits first.
func runGateway(t *testing.T, bin, root string, gw gateway) (endpoint string, err error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	endpoint = l.Addr().String()
	require.NoError(t, l.Close())

	cmd := exec.Command(bin, "--port", endpoint, "--access", gw.AccessKey, "--secret", gw.SecretKey,
		"--region", gw.Region, "--quiet", "--health", "/health", "posix", root)
	cmd.Dir = t.TempDir()
	cmd.Env = gatewayEnv()
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

// gatewayEnv is the test's environment without versitygw's own variables,
// which could point it at remote services or change its credentials.
func gatewayEnv() []string {
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

// loopbackClient talks to test servers directly, never through a proxy.
var loopbackClient = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}

// client returns a minio-go client for gw, for checks that bypass the Store.
func (gw gateway) client(t *testing.T) *minio.Client {
	t.Helper()
	c, err := minio.New(gw.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(gw.AccessKey, gw.SecretKey, ""),
		Region:       gw.Region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
	require.NoError(t, err)
	return c
}

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
