package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/resolver"
)

// rolloutMembers resolves n generated devices against the tree and returns
// which of them get version want.
func rolloutMembers(t *testing.T, tree, app string, n int, want string) []bool {
	t.Helper()
	cat := resolver.NewCatalog(resolver.FS(os.DirFS(tree)), resolver.URLs{Files: "http://x/files"}, nil)
	a, err := cat.App(context.Background(), app)
	require.NoError(t, err)
	body, _ := json.Marshal(map[string]any{"app_id": app, "device_id": "00000000-0000-4000-8000-000000000000",
		"version_name": "builtin", "version_build": "1.0.0", "plugin_version": "8.51.23", "platform": "ios",
		"is_emulator": false, "is_prod": true, "defaultChannel": ""})
	req, f := resolver.ParseRequest(body)
	require.Nil(t, f)
	in := make([]bool, n)
	for i := range in {
		req.DeviceID = fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i*7919)
		d := resolver.Resolve(a, req, resolver.Overrides{})
		in[i] = d.Code == "" && d.Version() == want
	}
	return in
}

func share(in []bool) float64 {
	n := 0
	for _, b := range in {
		if b {
			n++
		}
	}
	return float64(n) / float64(len(in))
}

// TestRollout_CLI drives rollouts through the command: the share over
// 100,000 devices is within ±1 point of the percentage, raising 10% → 30%
// keeps every device that was in, and a new rollout bundle draws a new salt.
func TestRollout_CLI(t *testing.T) {
	const app, n = "com.example.rollout", 100_000
	tree := t.TempDir()
	store := []string{"--store", tree, "--app", app}
	cliMust(t, append([]string{"publish", writeBuild(t, "1.0.0"), "--version", "1.0.0", "--quiet"}, store...)...)
	for _, v := range []string{"1.0.1", "1.0.2"} {
		cliMust(t, append([]string{"publish", writeBuild(t, v), "--version", v, "--channel", "staging", "--quiet"}, store...)...)
	}

	cliMust(t, append([]string{"rollout", "production", "--version", "1.0.1", "--percent", "10"}, store...)...)
	at10 := rolloutMembers(t, tree, app, n, "1.0.1")
	assert.InDelta(t, 0.10, share(at10), 0.01, "share at 10%%")

	cliMust(t, append([]string{"rollout", "production", "--percent", "30"}, store...)...)
	at30 := rolloutMembers(t, tree, app, n, "1.0.1")
	assert.InDelta(t, 0.30, share(at30), 0.01, "share at 30%%")
	for i := range at10 {
		if at10[i] && !at30[i] {
			t.Fatalf("device %d was in the 10%% rollout but not in the 30%% one", i)
		}
	}

	cliMust(t, append([]string{"rollout", "production", "--version", "1.0.2", "--percent", "30"}, store...)...)
	fresh := rolloutMembers(t, tree, app, n, "1.0.2")
	assert.InDelta(t, 0.30, share(fresh), 0.01, "share of the new rollout")
	both := 0
	for i := range fresh {
		if fresh[i] && at30[i] {
			both++
		}
	}
	// Independent salts overlap like independent draws: 30% of 30%.
	assert.InDelta(t, 0.09, float64(both)/n, 0.01, "overlap of two rollouts with different salts")

	cliMust(t, append([]string{"rollout", "production", "abort"}, store...)...)
	assert.Zero(t, share(rolloutMembers(t, tree, app, 2000, "1.0.2")), "no device gets an aborted rollout")
	cliMust(t, append([]string{"rollout", "production", "--percent", "50"}, store...)...)
	cliMust(t, append([]string{"rollout", "production", "finish"}, store...)...)
	assert.Equal(t, 1.0, share(rolloutMembers(t, tree, app, 2000, "1.0.2")), "a finished rollout is the stable bundle")
}
