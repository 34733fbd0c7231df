package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExplain replays requests with `capstatic explain` and checks the rule
// each must name, from a hand-written table.
func TestExplain(t *testing.T) {
	const app = "com.example.explain"
	tree := t.TempDir()
	s := []string{"--store", tree, "--app", app}
	run := func(args ...string) { cliMust(t, append(args, s...)...) }
	run("publish", writeBuild(t, "1.0.0"), "--version", "1.0.0", "--quiet")
	run("publish", writeBuild(t, "1.0.1"), "--version", "1.0.1", "--quiet")
	run("publish", writeBuild(t, "2.0.0"), "--version", "2.0.0", "--channel", "next", "--quiet")
	run("channel", "set", "next", "--self-assign")
	run("channel", "create", "empty", "--self-assign")
	run("channel", "create", "killed", "--self-assign", "--disabled", "--target", "1.0.1")
	run("channel", "create", "revert", "--self-assign", "--target", "builtin")
	run("channel", "create", "noios", "--self-assign", "--ios=false", "--target", "1.0.1")
	run("channel", "create", "proof", "--self-assign", "--allow-prod=false", "--allow-emulator=false", "--target", "1.0.1")
	run("channel", "create", "canary", "--self-assign", "--target", "1.0.0")
	run("rollout", "canary", "--version", "1.0.1", "--percent", "100")
	run("overrides", "set", "AAAAAAAA-0000-4000-8000-000000000001", "next")
	run("overrides", "set", "aaaaaaaa-0000-4000-8000-000000000004", "revert")
	overrides := filepath.Join(t.TempDir(), "overrides.txt")
	require.NoError(t, os.WriteFile(overrides, []byte(app+" aaaaaaaa-0000-4000-8000-000000000002 revert\n"+
		app+" aaaaaaaa-0000-4000-8000-000000000003 noios\n"), 0o644))

	cases := []struct {
		name string
		args []string
		rule string
		code string
	}{
		{"update from the platform default", nil, "update", ""},
		{"running the offered version", []string{"--running", "1.0.1"}, "version.same", "no_new_version_available"},
		{"unknown defaultChannel", []string{"--channel", "nope"}, "channel.none", "no_channel"},
		{"kill switch", []string{"--channel", "killed"}, "channel.disabled", "no_new_version_available"},
		{"channel without bundle", []string{"--channel", "empty"}, "channel.no_bundle", "no_bundle"},
		{"defaultChannel with the platform off", []string{"--channel", "noios", "--platform", "ios"}, "channel.none", "no_channel"},
		{"override to a channel with the platform off", []string{"--device", "aaaaaaaa-0000-4000-8000-000000000003", "--overrides", overrides, "--platform", "ios"}, "policy.platform", "disabled_platform_ios"},
		{"major blocked", []string{"--channel", "next"}, "policy.disable_auto_update", "disable_auto_update_to_major"},
		{"under native", []string{"--native", "1.2.0"}, "policy.under_native", "disable_auto_update_under_native"},
		{"prod build refused", []string{"--channel", "proof"}, "policy.build", "disable_prod_build"},
		{"emulator refused", []string{"--channel", "proof", "--dev", "--emulator"}, "policy.device", "disable_emulator"},
		{"revert to builtin", []string{"--channel", "revert", "--running", "1.0.1"}, "builtin.revert", ""},
		{"already on builtin", []string{"--channel", "revert"}, "builtin.already", "already_on_builtin"},
		{"legacy cannot revert", []string{"--device", "aaaaaaaa-0000-4000-8000-000000000004", "--running", "1.0.1", "--plugin", "10.0.0", "--no-default-channel"}, "builtin.too_old", "revert_to_builtin_plugin_version_too_old"},
		{"plugin v4", []string{"--plugin", "4.0.0"}, "plugin.unsupported", "unsupported_plugin_version"},
		{"encrypted key mismatch on a clear bundle", []string{"--key-id", "MIIBCgKCAQEAabcdefgh"}, "key.mismatch", "key_id_mismatch"},
		{"rollout at 100%", []string{"--channel", "canary"}, "update", ""},
		{"state override", []string{"--device", "AAAAAAAA-0000-4000-8000-000000000001", "--native", "2.0.0", "--running", "1.0.1"}, "update", ""},
		{"file override wins", []string{"--device", "aaaaaaaa-0000-4000-8000-000000000002", "--overrides", overrides, "--running", "1.0.1"}, "builtin.revert", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := cliMust(t, append(append([]string{"explain", "--json"}, tc.args...), s...)...)
			var got struct {
				Explanation struct {
					Rule, Code, Channel, Via string
					Steps                    []string
				}
			}
			require.NoError(t, json.Unmarshal([]byte(out), &got), out)
			assert.Equal(t, tc.rule, got.Explanation.Rule, "rule; steps:\n%s", strings.Join(got.Explanation.Steps, "\n"))
			assert.Equal(t, tc.code, got.Explanation.Code)
		})
	}
	t.Run("human output names the rollout bucket", func(t *testing.T) {
		out := cliMust(t, append([]string{"explain", "--channel", "canary"}, s...)...)
		assert.Contains(t, out, "rollout: device bucket")
		assert.Contains(t, out, "rule: update")
	})
}

// TestExplain_Native checks the rules of native gating, by name, from a
// hand-written table.
func TestExplain_Native(t *testing.T) {
	const app = "com.example.explainnative"
	tree := t.TempDir()
	s := []string{"--store", tree, "--app", app}
	run := func(args ...string) { cliMust(t, append(args, s...)...) }
	fpOld, fpNew := strings.Repeat("a", 64), strings.Repeat("b", 64)
	run("native", "add", "--platform", "ios", "--version", "1.0.0", "--fingerprint", fpOld)
	run("native", "add", "--platform", "ios", "--version", "2.0.0", "--fingerprint", fpNew)
	run("publish", writeBuild(t, "1.0.1"), "--version", "1.0.1", "--fingerprint", fpOld, "--quiet")
	run("publish", writeBuild(t, "2.0.1"), "--version", "2.0.1", "--fingerprint", fpNew, "--quiet")
	run("channel", "set", "production", "--disable-auto-update", "none")
	run("channel", "create", "strict", "--self-assign", "--unknown-native", "refuse", "--target", "2.0.1")
	run("native", "add", "--platform", "ios", "--version", "3.0.0", "--fingerprint", strings.Repeat("c", 64))

	cases := []struct {
		name, rule, version string
		args                []string
	}{
		{"build 1.0.0 gets the bundle built for it", "update", "1.0.1", []string{"--native", "1.0.0"}},
		{"build 2.0.0 gets the newest bundle", "update", "2.0.1", []string{"--native", "2.0.0"}},
		{"build 3.0.0 has no compatible bundle", "native.no_compatible", "", []string{"--native", "3.0.0"}},
		{"unregistered native, Capgo semantics", "update", "2.0.1", []string{"--native", "1.5.0", "--running", "1.0.0"}},
		{"unregistered native, channel refuses", "native.unregistered", "", []string{"--native", "2.5.0", "--channel", "strict"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := cliMust(t, append(append([]string{"explain", "--json", "--platform", "ios"}, tc.args...), s...)...)
			var got struct {
				Explanation struct{ Rule, Version string }
			}
			require.NoError(t, json.Unmarshal([]byte(out), &got), out)
			assert.Equal(t, tc.rule, got.Explanation.Rule)
			if tc.version != "" {
				assert.Equal(t, tc.version, got.Explanation.Version)
			}
		})
	}
}
