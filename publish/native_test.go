package publish_test

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
	"github.com/capstatic/capstatic/publish/publishtest"
)

const natApp = "com.example.native"

// Fingerprints of two native builds.
var (
	fpOne = strings.Repeat("1a", 32)
	fpTwo = strings.Repeat("2b", 32)
)

func TestAddNative(t *testing.T) {
	st := manifest.NewState(natApp)
	n, replaced, err := publish.AddNative(st, "ios", "1.4", strings.ToUpper(fpOne))
	require.NoError(t, err)
	assert.Equal(t, manifest.NativeBuild{Platform: "ios", Version: "1.4.0", Fingerprint: fpOne}, n, "version coerced, fingerprint lower-cased")
	assert.False(t, replaced)

	_, replaced, err = publish.AddNative(st, "ios", "1.4.0", fpTwo)
	require.NoError(t, err)
	assert.True(t, replaced, "same platform and version replaces")
	_, _, err = publish.AddNative(st, "android", "1.4.0", fpOne)
	require.NoError(t, err)
	assert.Equal(t, []manifest.NativeBuild{{Platform: "android", Version: "1.4.0", Fingerprint: fpOne},
		{Platform: "ios", Version: "1.4.0", Fingerprint: fpTwo}}, st.Natives)

	for _, bad := range [][3]string{{"web", "1.0.0", fpOne}, {"ios", "1.2.3.4", fpOne}, {"ios", "1.0.0", "xyz"}, {"ios", "1.0.0", ""}} {
		_, _, err := publish.AddNative(st, bad[0], bad[1], bad[2])
		assert.Error(t, err, "AddNative(%q)", bad)
	}

	require.NoError(t, publish.RemoveNative(st, "ios", "1.4"))
	assert.Len(t, st.Natives, 1)
	assert.Error(t, publish.RemoveNative(st, "ios", "1.4.0"), "removing twice")
}

func TestCompatible(t *testing.T) {
	n := manifest.NativeBuild{Platform: "ios", Version: "1.4.0", Fingerprint: fpOne}
	cases := []struct {
		name string
		b    *manifest.Bundle
		want bool
	}{
		{"same fingerprint", &manifest.Bundle{Fingerprint: fpOne}, true},
		{"other fingerprint", &manifest.Bundle{Fingerprint: fpTwo}, false},
		{"no fingerprint", &manifest.Bundle{}, false},
		{"range contains", &manifest.Bundle{Fingerprint: fpTwo, Native: ">=1.4.0 <2.0.0"}, true},
		{"range excludes", &manifest.Bundle{Fingerprint: fpTwo, Native: ">=1.5.0"}, false},
		{"range excludes, fingerprint matches", &manifest.Bundle{Fingerprint: fpOne, Native: ">=2.0.0"}, true},
		{"invalid range", &manifest.Bundle{Native: "not a range"}, false},
		{"builtin", nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, publish.Compatible(tc.b, n), "Compatible(%+v)", tc.b)
		})
	}
}

// natFixture is a publisher over a memory store and helpers to publish
// versions and register builds.
type natFixture struct {
	t   *testing.T
	ctx context.Context
	pub *publish.Publisher
}

func newNatFixture(t *testing.T) *natFixture {
	return &natFixture{t: t, ctx: context.Background(), pub: &publish.Publisher{Store: publishtest.NewMemory(), TempDir: t.TempDir()}}
}

func natBuild(marker string) fstest.MapFS {
	return fstest.MapFS{"index.html": {Data: []byte("<p>" + marker + "</p>")}}
}

func (f *natFixture) publish(rel publish.Release) (*publish.Result, error) {
	rel.App, rel.Build, rel.Level = natApp, natBuild(rel.Version), -1
	if rel.Channel == "" {
		rel.Channel = "production"
	}
	return f.pub.Publish(f.ctx, rel)
}

func (f *natFixture) mustPublish(version, fp string) {
	f.t.Helper()
	_, err := f.publish(publish.Release{Version: version, Fingerprint: fp})
	require.NoError(f.t, err, "publish %s", version)
}

func (f *natFixture) update(fn func(st *manifest.State) error) {
	f.t.Helper()
	_, err := f.pub.Update(f.ctx, natApp, fn)
	require.NoError(f.t, err)
}

func (f *natFixture) register(platform, version, fp string) {
	f.t.Helper()
	f.update(func(st *manifest.State) error {
		_, _, err := publish.AddNative(st, platform, version, fp)
		return err
	})
}

func (f *natFixture) state() *manifest.State {
	f.t.Helper()
	head, err := publish.Load(f.ctx, f.pub.Store, natApp)
	require.NoError(f.t, err)
	return head.State
}

// offers returns, for each registered build key, the version channel
// offers it ("builtin", or "" for nothing), checking that the state holds
// the record of every bundle named.
func (f *natFixture) offers(channel string) map[string]string {
	f.t.Helper()
	st := f.state()
	got := map[string]string{}
	for key, nt := range st.Channels[channel].Natives {
		switch {
		case nt.Target == "" || nt.Target == manifest.Builtin:
			got[key] = nt.Target
		default:
			b := st.Bundles[nt.Target]
			require.NotNil(f.t, b, "record of %s kept in the state", nt.Target)
			got[key] = b.Version
		}
	}
	return got
}

// TestPublish_NativeGating: with native builds registered, a bundle that
// none of the channel's platforms can run is refused, unless forced or
// given a native range that matches.
func TestPublish_NativeGating(t *testing.T) {
	f := newNatFixture(t)
	f.mustPublish("1.0.0", fpTwo) // no native build registered: no gating
	f.register("ios", "1.0.0", fpOne)

	_, err := f.publish(publish.Release{Version: "1.0.1", Fingerprint: fpTwo})
	require.ErrorIs(t, err, publish.ErrIncompatible)
	assert.Equal(t, "bundle 1.0.1 has fingerprint 2b2b2b2b2b2b and matches none of the native builds registered for channel production: ios 1.0.0 (1a1a1a1a1a1a)", err.Error())
	assert.NotContains(t, f.state().Versions, "1.0.1", "a refused publish changes nothing")

	_, err = f.publish(publish.Release{Version: "1.0.1"})
	assert.ErrorIs(t, err, publish.ErrIncompatible, "a bundle without fingerprint")

	_, err = f.publish(publish.Release{Version: "1.0.1", Fingerprint: fpTwo, Force: true})
	assert.NoError(t, err, "forced")
	_, err = f.publish(publish.Release{Version: "1.0.2", Fingerprint: fpTwo, Native: ">=1.0.0 <2.0.0"})
	assert.NoError(t, err, "a native range that matches")
	_, err = f.publish(publish.Release{Version: "1.0.3", Fingerprint: fpTwo, Native: ">=2.0.0"})
	assert.ErrorIs(t, err, publish.ErrIncompatible, "a native range that matches nothing")
	_, err = f.publish(publish.Release{Version: "1.0.3", Native: "not a range", Force: true})
	assert.ErrorContains(t, err, `native range "not a range"`)
	_, err = f.publish(publish.Release{Version: "1.0.3", Fingerprint: fpOne})
	assert.NoError(t, err, "matching fingerprint")

	s := manifest.DefaultSettings()
	s.IOS = false
	_, err = f.publish(publish.Release{Version: "1.0.4", Fingerprint: fpTwo, Channel: "android-only", Settings: &s})
	assert.NoError(t, err, "no build registered for the channel's platforms")
}

// TestPublish_NativePrecompute: every state written holds, per channel and
// registered build, the newest compatible bundle of the channel's history,
// respecting rollbacks, rollouts and builtin targets.
func TestPublish_NativePrecompute(t *testing.T) {
	f := newNatFixture(t)
	// Published before any build is registered: 1.0.1 and 1.0.2 are pruned
	// from the state and must be read back from the store.
	f.mustPublish("1.0.1", fpOne)
	f.mustPublish("1.0.2", fpOne)
	f.mustPublish("2.0.0", fpTwo)
	require.Len(t, f.state().Bundles, 1)
	f.register("ios", "1.0.0", fpOne)
	assert.Equal(t, map[string]string{"ios/1.0.0": "1.0.2"}, f.offers("production"), "older bundle read back from the store")

	f.register("ios", "2.0.0", fpTwo)
	f.mustPublish("1.0.3", fpOne)
	f.mustPublish("2.0.1", fpTwo)
	f.mustPublish("2.0.2", fpTwo)
	assert.Equal(t, map[string]string{"ios/1.0.0": "1.0.3", "ios/2.0.0": "2.0.2"}, f.offers("production"))

	f.update(func(st *manifest.State) error { _, err := publish.Rollback(st, "production", "1.0.3", nil); return err })
	assert.Equal(t, map[string]string{"ios/1.0.0": "1.0.3", "ios/2.0.0": "2.0.0"}, f.offers("production"),
		"rolled-back 2.0.1 and 2.0.2 are skipped")
	f.mustPublish("1.0.4", fpOne)
	assert.Equal(t, map[string]string{"ios/1.0.0": "1.0.4", "ios/2.0.0": "2.0.0"}, f.offers("production"))

	f.update(func(st *manifest.State) error {
		b, err := f.pub.Bundle(f.ctx, st, "2.0.2")
		if err != nil {
			return err
		}
		return publish.SetRollout(st, "production", b, 5000)
	})
	st := f.state()
	assert.True(t, st.Channels["production"].Natives["ios/2.0.0"].Rollout, "rollout compatible with 2.0.0")
	assert.False(t, st.Channels["production"].Natives["ios/1.0.0"].Rollout, "rollout not compatible with 1.0.0")

	f.update(func(st *manifest.State) error {
		return publish.Target(st, "production", manifest.Builtin, manifest.Builtin, "target builtin", nil)
	})
	assert.Equal(t, map[string]string{"ios/1.0.0": "builtin", "ios/2.0.0": "builtin"}, f.offers("production"))

	f.update(func(st *manifest.State) error { return publish.RemoveNative(st, "ios", "1.0.0") })
	f.update(func(st *manifest.State) error { return publish.RemoveNative(st, "ios", "2.0.0") })
	assert.Nil(t, f.state().Channels["production"].Natives, "no registered build, no precomputed answers")
}

// TestPublish_NativeNothingCompatible: a build no entry of the history
// suits gets an empty target.
func TestPublish_NativeNothingCompatible(t *testing.T) {
	f := newNatFixture(t)
	f.mustPublish("1.0.0", fpOne)
	f.register("android", "3.0.0", fpTwo)
	assert.Equal(t, map[string]string{"android/3.0.0": ""}, f.offers("production"))
}
