package resolver_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/resolver"
)

// nativeState is an app with ios builds 1.0.0 and 2.0.0 registered (3.0.0
// too, with nothing compatible) and a channel whose target 2.0.1 suits
// only 2.0.0; the publisher precomputed 1.0.1 for 1.0.0. edit changes the
// channel.
func nativeState(edit func(st *manifest.State, ch *manifest.Channel)) *stateBuilder {
	v101, v201 := bundleRec("1.0.1"), bundleRec("2.0.1")
	b := newState().channel("production", v201, func(c *manifest.Channel) {
		c.Settings.DisableAutoUpdate, c.Settings.DisableUnderNative = manifest.AutoUpdateNone, false
		c.Natives = map[string]manifest.NativeTarget{
			"ios/1.0.0": {Target: v101.ID.String()},
			"ios/2.0.0": {Target: v201.ID.String()},
			"ios/3.0.0": {},
		}
	}).defaults("production", "ios", "android")
	b.st.Bundles[v101.ID.String()] = v101
	b.st.Natives = []manifest.NativeBuild{{Platform: "ios", Version: "1.0.0", Fingerprint: "aa"},
		{Platform: "ios", Version: "2.0.0", Fingerprint: "bb"}, {Platform: "ios", Version: "3.0.0", Fingerprint: "cc"}}
	if edit != nil {
		edit(b.st, b.st.Channels["production"])
	}
	return b
}

func TestResolve_Native(t *testing.T) {
	v300 := bundleRec("3.0.1")
	rollout := func(st *manifest.State, ch *manifest.Channel) {
		st.Bundles[v300.ID.String()] = v300
		ch.Rollout = &manifest.Rollout{Target: v300.ID.String(), BPS: 10000, Salt: "s"}
		nt := ch.Natives["ios/2.0.0"]
		nt.Rollout = true
		ch.Natives["ios/2.0.0"] = nt
	}
	refuse := func(_ *manifest.State, ch *manifest.Channel) {
		ch.Settings.UnknownNative = manifest.UnknownNativeRefuse
	}
	builtin := func(_ *manifest.State, ch *manifest.Channel) {
		ch.Natives["ios/1.0.0"] = manifest.NativeTarget{Target: manifest.Builtin}
	}
	cases := []struct {
		name      string
		edit      func(*manifest.State, *manifest.Channel)
		req       map[string]any
		rule      string
		code      string
		version   string
		inRollout bool
	}{
		{"registered 1.0.0 gets its precomputed bundle", nil, map[string]any{"platform": "ios", "version_build": "1.0.0"}, "update", "", "1.0.1", false},
		{"registered 2.0.0 gets the target", nil, map[string]any{"platform": "ios", "version_build": "2.0.0"}, "update", "", "2.0.1", false},
		{"version_build coerced before the lookup", nil, map[string]any{"platform": "ios", "version_build": "1.0"}, "update", "", "1.0.1", false},
		{"up to date on its compatible bundle", nil, map[string]any{"platform": "ios", "version_build": "1.0.0", "version_name": "1.0.1"}, "version.same", resolver.CodeNoNewVersion, "1.0.1", false},
		{"nothing compatible", nil, map[string]any{"platform": "ios", "version_build": "3.0.0"}, resolver.RuleNativeIncompatible, resolver.CodeNoNewVersion, "", false},
		{"unregistered: Capgo's semantics", nil, map[string]any{"platform": "ios", "version_build": "1.5.0"}, "update", "", "2.0.1", false},
		{"unregistered: refused", refuse, map[string]any{"platform": "ios", "version_build": "1.5.0"}, resolver.RuleNativeUnregistered, resolver.CodeNoNewVersion, "", false},
		{"registered build unaffected by the refusal", refuse, map[string]any{"platform": "ios", "version_build": "1.0.0"}, "update", "", "1.0.1", false},
		{"platform without registered builds is not gated", refuse, map[string]any{"platform": "android", "version_build": "1.0.0"}, "update", "", "2.0.1", false},
		{"compatible rollout", rollout, map[string]any{"platform": "ios", "version_build": "2.0.0"}, "update", "", "3.0.1", true},
		{"incompatible rollout is skipped", rollout, map[string]any{"platform": "ios", "version_build": "1.0.0"}, "update", "", "1.0.1", false},
		{"builtin precomputed", builtin, map[string]any{"platform": "ios", "version_build": "1.0.0", "version_name": "1.0.1"}, "builtin.revert", "", "builtin", false},
		{"builtin precomputed, on builtin", builtin, map[string]any{"platform": "ios", "version_build": "1.0.0"}, "builtin.already", resolver.CodeAlreadyOnBuiltin, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := nativeState(tc.edit).app(t)
			d, _ := decide(t, a, request(tc.req), resolver.Overrides{})
			assert.Equal(t, tc.rule, d.Rule, "rule")
			assert.Equal(t, tc.code, d.Code, "code")
			assert.Equal(t, tc.version, d.Version(), "version")
			assert.Equal(t, tc.inRollout, d.InRollout, "in rollout")
		})
	}
}

// TestResolve_NativeNoBundle: a channel with nothing to offer stays
// no_bundle for registered builds.
func TestResolve_NativeNoBundle(t *testing.T) {
	b := newState().channel("production", nil, func(c *manifest.Channel) {
		c.Natives = map[string]manifest.NativeTarget{"ios/1.0.0": {}}
	}).defaults("production", "ios")
	b.st.Natives = []manifest.NativeBuild{{Platform: "ios", Version: "1.0.0", Fingerprint: "aa"}}
	d, _ := decide(t, b.app(t), request(map[string]any{"platform": "ios"}), resolver.Overrides{})
	assert.Equal(t, resolver.CodeNoBundle, d.Code)
}

// TestNewApp_NativeMissingRecord: a precomputed answer naming a bundle the
// state does not hold makes the state unusable.
func TestNewApp_NativeMissingRecord(t *testing.T) {
	b := nativeState(func(_ *manifest.State, ch *manifest.Channel) {
		ch.Natives["ios/1.0.0"] = manifest.NativeTarget{Target: bundleRec("9.9.9").ID.String()}
	})
	_, err := resolver.NewApp(b.st, resolver.URLs{})
	assert.ErrorContains(t, err, "ios 1.0.0")
}

func TestExplain_Native(t *testing.T) {
	a := nativeState(nil).app(t)
	steps := func(edit map[string]any) []string {
		req, f := resolver.ParseRequest(request(edit))
		require.Nil(t, f)
		return resolver.Explain(a, req, resolver.Overrides{}).Steps
	}
	assert.Contains(t, steps(map[string]any{"platform": "ios", "version_build": "1.0.0"}),
		"native gating: registered build ios 1.0.0 matched; newest compatible bundle of the channel's history: 1.0.1")
	assert.Contains(t, steps(map[string]any{"platform": "ios", "version_build": "3.0.0"}),
		"native gating: registered build ios 3.0.0 matched; no bundle of the channel's history is compatible with it")
	assert.Contains(t, steps(map[string]any{"platform": "ios", "version_build": "1.5.0"}),
		"native gating: ios 1.5.0 is not a registered native build: Capgo's semantics, the channel's target")
	assert.Contains(t, steps(map[string]any{"platform": "android"}),
		"native gating: no native build is registered for android, so none applies")
}
