package publish_test

import (
	"context"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
	"github.com/capstatic/capstatic/publish/publishtest"
)

// gcKeys lists every key of s.
func gcKeys(t *testing.T, s *publishtest.Memory) []string {
	t.Helper()
	var keys []string
	require.NoError(t, s.List(t.Context(), "", func(k string, _ publish.Info) error { keys = append(keys, k); return nil }))
	slices.Sort(keys)
	return keys
}

// later is a clock two days ahead, so that everything published now is
// older than the default grace period.
func later() time.Time { return time.Now().Add(48 * time.Hour) }

// gcBundleKeys returns the record and zip keys of version.
func gcBundleKeys(t *testing.T, s publish.Store, version string) (record, zip string) {
	t.Helper()
	head, err := publish.Load(t.Context(), s, vApp)
	require.NoError(t, err)
	id, ok := head.State.Versions[version]
	require.True(t, ok, "version %s", version)
	return manifest.BundleRecordPath(vApp, id), manifest.ZipPath(vApp, id)
}

func exists(t *testing.T, s publish.Store, key string) bool {
	t.Helper()
	_, err := s.Stat(t.Context(), key)
	if err != nil {
		require.ErrorIs(t, err, fs.ErrNotExist, "Stat(%q)", key)
	}
	return err == nil
}

// TestGC_Keep publishes five versions and collects with Keep 2: the bundles
// of the two most recent versions stay, with every delta object they use;
// the older ones go, leaving tombstones; only the current state stays; the
// tree verifies, and a rollback to a pruned version fails cleanly.
func TestGC_Keep(t *testing.T) {
	s := publishtest.NewMemory()
	vPublish(t, s, nil, "production", "1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4")
	ptr := vPointer(t, s)

	rep, err := (&publish.GC{Store: s, Keep: 2, Now: later}).Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{vApp}, rep.Apps)
	assert.NotEmpty(t, rep.Deleted)

	for _, v := range []string{"1.0.3", "1.0.4"} {
		record, zip := gcBundleKeys(t, s, v)
		assert.True(t, exists(t, s, record), "record of kept %s", v)
		assert.True(t, exists(t, s, zip), "zip of kept %s", v)
	}
	for _, v := range []string{"1.0.0", "1.0.1", "1.0.2"} {
		record, zip := gcBundleKeys(t, s, v)
		assert.False(t, exists(t, s, record), "record of pruned %s", v)
		assert.False(t, exists(t, s, zip), "zip of pruned %s", v)
		assert.True(t, exists(t, s, strings.TrimSuffix(record, "bundle.json")+"pruned.json"), "tombstone of %s", v)
	}
	var states []string
	for _, k := range gcKeys(t, s) {
		if strings.HasPrefix(k, vApp+"/states/") {
			states = append(states, k)
		}
	}
	assert.Equal(t, []string{manifest.StatePath(vApp, ptr.State)}, states, "states after gc")
	assert.True(t, exists(t, s, manifest.IndexPath))
	assert.Equal(t, ptr, vPointer(t, s), "pointer after gc")

	problems := vProblems(t, s)
	assert.Empty(t, problems, "verify after gc")

	p := &publish.Publisher{Store: s}
	_, err = p.Update(t.Context(), vApp, func(st *manifest.State) error {
		v, err := publish.Rollback(st, "production", "1.0.1", nil)
		if err != nil {
			return err
		}
		_, err = p.Bundle(t.Context(), st, v)
		return err
	})
	assert.ErrorIs(t, err, fs.ErrNotExist, "rollback to a pruned version")

	again, err := (&publish.GC{Store: s, Keep: 2, Now: later}).Run(t.Context())
	require.NoError(t, err)
	assert.Empty(t, again.Deleted, "a second gc deletes nothing")
}

// TestGC_KeepsLive checks that Keep -1 keeps exactly what the channels
// offer, including a rollout bundle and every channel's target.
func TestGC_KeepsLive(t *testing.T) {
	s := publishtest.NewMemory()
	vPublish(t, s, nil, "production", "1.0.0", "1.0.1")
	vPublish(t, s, nil, "beta", "2.0.0", "2.0.1")
	p := &publish.Publisher{Store: s}
	_, err := p.Update(t.Context(), vApp, func(st *manifest.State) error {
		b, err := p.Bundle(t.Context(), st, "2.0.1")
		if err != nil {
			return err
		}
		return publish.SetRollout(st, "production", b, 1000)
	})
	require.NoError(t, err)
	_, err = (&publish.GC{Store: s, Keep: -1, Now: later}).Run(t.Context())
	require.NoError(t, err)
	for v, kept := range map[string]bool{"1.0.0": false, "1.0.1": true, "2.0.0": false, "2.0.1": true} {
		_, zip := gcBundleKeys(t, s, v)
		assert.Equal(t, kept, exists(t, s, zip), "zip of %s", v)
	}
	assert.Empty(t, vProblems(t, s), "verify after gc")
}

// TestGC_DryRun checks that a dry run reports what a real run deletes, and
// deletes nothing.
func TestGC_DryRun(t *testing.T) {
	s := publishtest.NewMemory()
	vPublish(t, s, nil, "production", "1.0.0", "1.0.1", "1.0.2")
	before := gcKeys(t, s)
	dry, err := (&publish.GC{Store: s, Keep: 1, Now: later, DryRun: true}).Run(t.Context())
	require.NoError(t, err)
	assert.NotEmpty(t, dry.Deleted)
	assert.Equal(t, before, gcKeys(t, s), "keys after a dry run")
	real, err := (&publish.GC{Store: s, Keep: 1, Now: later}).Run(t.Context())
	require.NoError(t, err)
	assert.Equal(t, dry.Deleted, real.Deleted, "a dry run lists what the real run deletes")
	assert.Equal(t, dry.Bytes, real.Bytes)
}

// TestGC_Grace checks that nothing younger than the default grace period
// goes, right after publishing.
func TestGC_Grace(t *testing.T) {
	s := publishtest.NewMemory()
	vPublish(t, s, nil, "production", "1.0.0", "1.0.1", "1.0.2")
	before := gcKeys(t, s)
	rep, err := (&publish.GC{Store: s, Keep: -1}).Run(t.Context())
	require.NoError(t, err)
	assert.Empty(t, rep.Deleted, "deleted within the default grace period")
	assert.Positive(t, rep.Young, "objects kept only for their age")
	assert.Equal(t, before, gcKeys(t, s))
}

// TestGC_YoungRecord checks that a bundle whose record is younger than the
// grace period keeps every object it uses, however old: a publish in
// flight reuses delta objects already in the tree, which may otherwise
// belong only to pruned bundles.
func TestGC_YoungRecord(t *testing.T) {
	s := publishtest.NewMemory()
	vPublish(t, s, nil, "production", "1.0.0", "1.0.1")
	time.Sleep(100 * time.Millisecond)
	// 1.0.2 has the content of 1.0.0 and no channel yet, as a publish that
	// has not flipped the pointer leaves it: its record is young, the
	// delta objects it reuses are not.
	p := &publish.Publisher{Store: s, TempDir: t.TempDir()}
	res, err := p.Publish(t.Context(), publish.Release{App: vApp, Version: "1.0.2", Build: vBuild("1.0.0"), Level: 5})
	require.NoError(t, err)
	now := time.Now()
	_, err = (&publish.GC{Store: s, Keep: -1, Grace: 50 * time.Millisecond, Now: func() time.Time { return now }}).Run(t.Context())
	require.NoError(t, err)

	record, zip := gcBundleKeys(t, s, "1.0.0")
	assert.False(t, exists(t, s, record), "record of pruned 1.0.0")
	assert.False(t, exists(t, s, zip), "zip of pruned 1.0.0")
	assert.True(t, exists(t, s, manifest.BundleRecordPath(vApp, res.Bundle.ID)), "record of the young 1.0.2")
	for _, f := range res.Bundle.Files {
		assert.True(t, exists(t, s, f.Object.Path), "object of %s, used by the young 1.0.2", f.Name)
	}
}

// TestGC_UnreadableState checks that an app whose state cannot be read is
// left alone and reported.
func TestGC_UnreadableState(t *testing.T) {
	s := publishtest.NewMemory()
	vPublish(t, s, nil, "production", "1.0.0", "1.0.1")
	require.NoError(t, s.Delete(t.Context(), manifest.StatePath(vApp, vPointer(t, s).State)))
	before := gcKeys(t, s)
	_, err := (&publish.GC{Store: s, Keep: -1, Now: later}).Run(t.Context())
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Equal(t, before, gcKeys(t, s), "keys after a refused gc")
}

// TestGC_SharedObjects checks that delta objects used by a kept bundle stay
// when a pruned bundle used them too.
func TestGC_SharedObjects(t *testing.T) {
	s := publishtest.NewMemory()
	vPublish(t, s, nil, "production", "1.0.0", "1.0.1")
	_, err := (&publish.GC{Store: s, Keep: -1, Now: later}).Run(t.Context())
	require.NoError(t, err)
	head, err := publish.Load(t.Context(), s, vApp)
	require.NoError(t, err)
	live := head.State.Bundles[head.State.Channels["production"].Target]
	for _, f := range live.Files {
		assert.True(t, exists(t, s, f.Object.Path), "object of %s", f.Name)
	}
	assert.Empty(t, vProblems(t, s))
}

func TestGC_NoLister(t *testing.T) {
	_, err := (&publish.GC{Store: storeOnly{publishtest.NewMemory()}}).Run(context.Background())
	assert.ErrorContains(t, err, "cannot list")
}

// storeOnly hides every capability of a store but [publish.Store].
type storeOnly struct{ publish.Store }
