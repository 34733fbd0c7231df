package resolver_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/resolver"
)

var trustNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// signed returns a pointer of testApp at seq naming state, signed by key
// (nil: unsigned) and expiring an hour after trustNow.
func signed(key ed25519.PrivateKey, seq uint64, state string) *manifest.Pointer {
	p := &manifest.Pointer{Format: manifest.FormatVersion, App: testApp, Seq: seq,
		State: manifest.Sum([]byte(state)), StateSize: 100}
	if key != nil {
		p.Sign(key, trustNow.Add(time.Hour))
	}
	return p
}

func newTrust(t *testing.T, cfg resolver.TrustConfig) *resolver.Trust {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return trustNow }
	}
	tr, err := resolver.NewTrust(signingKey("publisher").Public().(ed25519.PublicKey), cfg)
	require.NoError(t, err)
	return tr
}

func TestTrust_Check(t *testing.T) {
	t.Parallel()
	key, other := signingKey("publisher"), signingKey("intruder")
	forged := signed(other, 6, "s6")
	forged.SignKey = manifest.SigningKeyID(key.Public().(ed25519.PublicKey))
	tampered := signed(key, 6, "s6")
	tampered.StateSize++
	expired := signed(key, 6, "s6")
	expired.Sign(key, trustNow.Add(-time.Second))
	cases := []struct {
		name string
		p    *manifest.Pointer
		want error // nil: accepted
	}{
		{"OK", signed(key, 6, "s6"), nil},
		{"NoExpiry", func() *manifest.Pointer { p := signed(key, 6, "s6"); p.Sign(key, time.Time{}); return p }(), nil},
		{"SameAgain", signed(key, 5, "s5"), nil},
		{"ErrUnsigned", signed(nil, 6, "s6"), manifest.ErrUnsigned},
		{"ErrWrongKey", signed(other, 6, "s6"), resolver.ErrWrongKey},
		{"ErrBadSignature/forged label", forged, manifest.ErrBadSignature},
		{"ErrBadSignature/tampered", tampered, manifest.ErrBadSignature},
		{"ErrFrozen", expired, resolver.ErrFrozen},
		{"ErrRollback/older", signed(key, 4, "s4"), resolver.ErrRollback},
		{"ErrRollback/same seq other state", signed(key, 5, "other"), resolver.ErrRollback},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := newTrust(t, resolver.TrustConfig{})
			require.NoError(t, tr.Check(signed(key, 5, "s5"), nil))
			err := tr.Check(tc.p, nil)
			if tc.want == nil {
				require.NoError(t, err)
				seq, ok := tr.Highest(testApp)
				assert.True(t, ok)
				assert.Equal(t, tc.p.Seq, seq)
				return
			}
			assert.ErrorIs(t, err, tc.want)
			seq, _ := tr.Highest(testApp)
			assert.Equal(t, uint64(5), seq, "a refused pointer changes nothing")
		})
	}
}

func TestTrust_Check_Expired(t *testing.T) {
	t.Parallel()
	key := signingKey("publisher")
	now := trustNow
	tr := newTrust(t, resolver.TrustConfig{Now: func() time.Time { return now }})
	p := signed(key, 1, "s1")
	require.NoError(t, tr.Check(p, nil))
	now = now.Add(2 * time.Hour)
	err := tr.Check(p, p)
	assert.ErrorIs(t, err, resolver.ErrFrozen)
	assert.ErrorIs(t, err, manifest.ErrExpired, "ErrFrozen wraps the manifest's error")
}

func TestTrust_Check_Current(t *testing.T) {
	t.Parallel()
	key := signingKey("publisher")
	tr := newTrust(t, resolver.TrustConfig{})
	assert.ErrorIs(t, tr.Check(signed(key, 3, "s3"), signed(key, 4, "s4")), resolver.ErrRollback,
		"the pointer being served is a floor too")
}

func TestTrust_Rotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := signingKey("publisher"), signingKey("next")
	tr := newTrust(t, resolver.TrustConfig{Keys: []ed25519.PublicKey{newKey.Public().(ed25519.PublicKey)}})
	require.NoError(t, tr.Check(signed(oldKey, 1, "s1"), nil))
	require.NoError(t, tr.Check(signed(newKey, 2, "s2"), nil))
	assert.ErrorIs(t, tr.Check(signed(oldKey, 1, "s1"), nil), resolver.ErrRollback, "sequences span keys")
}

func TestTrust_StateFile(t *testing.T) {
	t.Parallel()
	key := signingKey("publisher")
	file := filepath.Join(t.TempDir(), "trust.json")

	tr := newTrust(t, resolver.TrustConfig{StateFile: file})
	require.NoError(t, tr.Check(signed(key, 7, "s7"), nil))
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc), "state file %s", raw)
	entries, err := os.ReadDir(filepath.Dir(file))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left")

	t.Run("Restart", func(t *testing.T) {
		tr := newTrust(t, resolver.TrustConfig{StateFile: file})
		seq, ok := tr.Highest(testApp)
		assert.True(t, ok)
		assert.Equal(t, uint64(7), seq)
		assert.ErrorIs(t, tr.Check(signed(key, 6, "s6"), nil), resolver.ErrRollback)
		assert.NoError(t, tr.Check(signed(key, 7, "s7"), nil))
	})
	t.Run("RestartWithoutStateFile", func(t *testing.T) {
		// Trust on first use: a fresh Trust takes any valid pointer.
		tr := newTrust(t, resolver.TrustConfig{})
		assert.NoError(t, tr.Check(signed(key, 6, "s6"), nil))
	})
	t.Run("Corrupt", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "trust.json")
		require.NoError(t, os.WriteFile(bad, []byte("{"), 0o600))
		_, err := resolver.NewTrust(key.Public().(ed25519.PublicKey), resolver.TrustConfig{StateFile: bad})
		assert.Error(t, err)
	})
	t.Run("Unwritable", func(t *testing.T) {
		tr := newTrust(t, resolver.TrustConfig{StateFile: filepath.Join(t.TempDir(), "missing", "trust.json")})
		assert.ErrorIs(t, tr.Check(signed(key, 1, "s1"), nil), fs.ErrNotExist, "fails closed")
		_, ok := tr.Highest(testApp)
		assert.False(t, ok)
	})
}

func TestNewTrust_BadKey(t *testing.T) {
	_, err := resolver.NewTrust(ed25519.PublicKey("short"), resolver.TrustConfig{})
	assert.Error(t, err)
}

func TestFailureLabel(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("x: %w", resolver.ErrRollback), "rollback"},
		{fmt.Errorf("%w: %w", resolver.ErrFrozen, manifest.ErrExpired), "frozen"},
		{resolver.ErrWrongKey, "wrong_key"},
		{manifest.ErrUnsigned, "unsigned"},
		{manifest.ErrBadSignature, "bad_signature"},
		{resolver.ErrInvalidPointer, "invalid_pointer"},
		{fs.ErrNotExist, "not_found"},
		{&resolver.OriginError{Name: "x", Err: manifest.ErrDigestMismatch}, "digest_mismatch"},
		{&resolver.OriginError{Name: "x", Err: context.DeadlineExceeded}, "timeout"},
		{&resolver.OriginError{Name: "x", Err: resolver.ErrTruncated}, "truncated"},
		{&resolver.OriginError{Name: "x", Err: resolver.ErrTooLarge}, "too_large"},
		{&resolver.OriginError{Name: "x", Status: 503, Err: resolver.ErrOriginStatus}, "origin"},
		{errors.New("anything"), "other"},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, resolver.FailureLabel(tc.err), "FailureLabel(%v)", tc.err)
	}
}
