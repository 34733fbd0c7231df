package publish_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
	"github.com/capstatic/capstatic/publish/publishtest"
)

const vApp = "com.example.verify"

// vBuild is a web build with a brotli delta object (the script), a raw one
// (the tiny file) and a file shared by every version.
func vBuild(marker string) fstest.MapFS {
	return fstest.MapFS{
		"index.html":      {Data: []byte("<!doctype html><script src=app.js></script>" + marker)},
		"app.js":          {Data: []byte(strings.Repeat("console.log('"+marker+" compressible line');\n", 400))},
		"assets/tiny.css": {Data: []byte("p{}")},
		"assets/lib.js":   {Data: []byte(strings.Repeat("shared library code;\n", 300))},
	}
}

// vPublish publishes each version of vApp to channel in turn, with its own
// content, at the clock's time.
func vPublish(t *testing.T, s publish.Store, now func() time.Time, channel string, versions ...string) *publish.Result {
	t.Helper()
	p := &publish.Publisher{Store: s, Now: now, TempDir: t.TempDir()}
	var res *publish.Result
	for _, v := range versions {
		var err error
		res, err = p.Publish(t.Context(), publish.Release{App: vApp, Version: v, Channel: channel, Build: vBuild(v), Level: 5})
		require.NoError(t, err, "publish %s", v)
	}
	return res
}

func vRead(t *testing.T, s publish.Store, key string) []byte {
	t.Helper()
	r, err := s.Open(t.Context(), key)
	require.NoError(t, err, "open %s", key)
	defer r.Close()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return b
}

func vPut(t *testing.T, s publish.Store, key string, b []byte) {
	t.Helper()
	require.NoError(t, s.Put(t.Context(), key, bytes.NewReader(b), int64(len(b))), "put %s", key)
}

func vPointer(t *testing.T, s publish.Store) *manifest.Pointer {
	t.Helper()
	p, err := manifest.DecodePointer(vRead(t, s, manifest.PointerPath(vApp)))
	require.NoError(t, err)
	return p
}

// vProblems runs Verify and returns the problems as "key: error" strings.
func vProblems(t *testing.T, s publish.Store) []*publish.Problem {
	t.Helper()
	rep, err := publish.Verify(t.Context(), s, nil)
	require.NoError(t, err, "Verify")
	assert.Equal(t, []string{vApp}, rep.Apps)
	return rep.Problems
}

// TestVerify_OK checks that a tree the publisher wrote, with clear and
// encrypted releases and an older version in the history, verifies.
func TestVerify_OK(t *testing.T) {
	s := publishtest.NewMemory()
	res := vPublish(t, s, nil, "production", "1.0.0", "1.0.1")
	require.NotEmpty(t, res.Bundle.Files)
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	p := &publish.Publisher{Store: s, TempDir: t.TempDir()}
	_, err = p.Publish(t.Context(), publish.Release{App: vApp, Version: "1.0.2", Channel: "beta", Build: vBuild("enc"),
		Keys: []publish.Key{{Scheme: manifest.SchemeV2, Private: priv}}})
	require.NoError(t, err)
	rep, err := publish.Verify(t.Context(), s, nil)
	require.NoError(t, err)
	assert.Empty(t, rep.Problems, "problems of a fresh tree")
	assert.NoError(t, rep.Err())
	assert.Greater(t, rep.Objects, 8, "objects read")
}

// TestVerify_Damage checks that each kind of damage is reported, with the
// object it concerns.
func TestVerify_Damage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, s publish.Store, b *manifest.Bundle) string // returns the key to be reported
		want   error
	}{
		{"ZipByte", func(t *testing.T, s publish.Store, b *manifest.Bundle) string {
			z := vRead(t, s, b.Zip.Path)
			z[len(z)/2] ^= 0x01
			vPut(t, s, b.Zip.Path, z)
			return b.Zip.Path
		}, manifest.ErrDigestMismatch},
		{"MissingDelta", func(t *testing.T, s publish.Store, b *manifest.Bundle) string {
			key := b.Files[0].Object.Path
			require.NoError(t, s.Delete(t.Context(), key))
			return key
		}, fs.ErrNotExist},
		{"TruncatedBrotli", func(t *testing.T, s publish.Store, b *manifest.Bundle) string {
			for _, f := range b.Files {
				if f.Brotli {
					o := vRead(t, s, f.Object.Path)
					vPut(t, s, f.Object.Path, o[:len(o)-2])
					return f.Object.Path
				}
			}
			t.Fatal("no brotli object in the build")
			return ""
		}, manifest.ErrSizeMismatch},
		{"TruncatedState", func(t *testing.T, s publish.Store, _ *manifest.Bundle) string {
			key := manifest.StatePath(vApp, vPointer(t, s).State)
			st := vRead(t, s, key)
			vPut(t, s, key, st[:len(st)-10])
			return key
		}, manifest.ErrSizeMismatch},
		{"MissingState", func(t *testing.T, s publish.Store, _ *manifest.Bundle) string {
			key := manifest.StatePath(vApp, vPointer(t, s).State)
			require.NoError(t, s.Delete(t.Context(), key))
			return key
		}, fs.ErrNotExist},
		{"MissingHistoryRecord", func(t *testing.T, s publish.Store, _ *manifest.Bundle) string {
			head, err := publish.Load(t.Context(), s, vApp)
			require.NoError(t, err)
			key := manifest.BundleRecordPath(vApp, head.State.Versions["1.0.0"])
			require.NoError(t, s.Delete(t.Context(), key))
			return key
		}, fs.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := publishtest.NewMemory()
			res := vPublish(t, s, nil, "production", "1.0.0", "1.0.1")
			key := tc.damage(t, s, res.Bundle)
			problems := vProblems(t, s)
			require.Len(t, problems, 1, "problems: %v", problems)
			assert.Equal(t, key, problems[0].Key)
			assert.ErrorIs(t, problems[0], tc.want)
		})
	}
}

// TestVerify_Index checks the index: missing, and not listing an app.
func TestVerify_Index(t *testing.T) {
	s := publishtest.NewMemory()
	vPublish(t, s, nil, "production", "1.0.0")
	vPut(t, s, manifest.IndexPath, []byte(`{"apps":[]}`))
	rep, err := publish.Verify(t.Context(), s, []string{vApp})
	require.NoError(t, err)
	require.Len(t, rep.Problems, 1)
	assert.Equal(t, manifest.IndexPath, rep.Problems[0].Key)

	require.NoError(t, s.Delete(t.Context(), manifest.IndexPath))
	rep, err = publish.Verify(t.Context(), s, nil)
	require.NoError(t, err)
	require.Len(t, rep.Problems, 1)
	assert.ErrorIs(t, rep.Problems[0], fs.ErrNotExist)
}

func TestVerify_Cancelled(t *testing.T) {
	s := publishtest.NewMemory()
	vPublish(t, s, nil, "production", "1.0.0")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := publish.Verify(ctx, s, nil)
	assert.ErrorIs(t, err, context.Canceled)
}
