package e2e_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// peerTimeout bounds every run of an external peer (openssl, the Capgo CLI).
const peerTimeout = 60 * time.Second

// skipOrFail skips a test whose external peer is missing, except under CI
// (env CI set), where a silent skip would hide a broken setup.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format+" (CI is set, so this is not skipped)", args...)
	}
	t.Skipf(format, args...)
}

// opensslPath returns the openssl command line tool, the oracle of the
// openssl tests.
func opensslPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		skipOrFail(t, "openssl not found: %v", err)
	}
	return p
}

// peer runs external commands in a working folder.
type peer struct {
	dir string
	env []string // added to the inherited environment
}

// run runs name with args with stdin closed and returns its stdout and
// stderr. It fails the test when the command does not exit 0, or, with
// wantErr, when it does.
func (p peer) run(t *testing.T, wantErr bool, name string, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), peerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = p.dir
	cmd.Stdin = nil // reads from the null device, so no prompt can wait
	cmd.Env = append(os.Environ(), p.env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if wantErr {
		require.Error(t, err, "%s %q succeeded\nstdout:\n%s\nstderr:\n%s", filepath.Base(name), args, &out, &errOut)
	} else {
		require.NoError(t, err, "%s %q\nstdout:\n%s\nstderr:\n%s", filepath.Base(name), args, &out, &errOut)
	}
	return out.String(), errOut.String()
}

// writeFile writes data to dir/name and returns the full path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

// readFile returns the content of dir/name.
func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	return b
}
