package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
)

// TestState_PrecomputedAnswers: every state the command writes carries,
// per channel and platform, the bundle offered and the platform check.
func TestState_PrecomputedAnswers(t *testing.T) {
	const app = "com.example.answers"
	tree := t.TempDir()
	s := []string{"--store", tree, "--app", app}
	cliMust(t, append([]string{"publish", writeBuild(t, "1.0.1"), "--version", "1.0.1", "--quiet"}, s...)...)
	cliMust(t, append([]string{"channel", "set", "production", "--ios=false"}, s...)...)
	cliMust(t, append([]string{"channel", "create", "revert", "--target", "builtin"}, s...)...)

	store, err := publish.NewDir(tree)
	require.NoError(t, err)
	head, err := publish.Load(context.Background(), store, app)
	require.NoError(t, err)
	prod := head.State.Channels["production"]
	assert.Equal(t, map[string]manifest.PlatformAnswer{
		"ios":      {Offer: prod.Target, Check: "disabled_platform_ios"},
		"android":  {Offer: prod.Target},
		"electron": {Offer: prod.Target},
	}, prod.Answers)
	assert.Equal(t, manifest.PlatformAnswer{Offer: manifest.Builtin}, head.State.Channels["revert"].Answers["android"])
}
