package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/publish/publishtest"
)

// TestConcurrentPublish races two publishers of different versions to one
// channel, on a folder and on S3 (versitygw).
//
// Gated: two helper processes each load the app and upload their objects,
// then wait at their pointer write until both are there, and go on
// together. Exactly one wins (exit 0); the other exits 3 with a message
// that says to run it again; the tree offers the winner's version, holds
// no trace of the loser in its state, and verifies; running the loser
// again puts it on top.
//
// Free: two "capstatic publish" commands start at once in one process, a
// few times. Each exits 0 or 3, at least one wins, the channel offers the
// last winner and the tree verifies.
func TestConcurrentPublish(t *testing.T) {
	t.Run("Dir", func(t *testing.T) { testConcurrent(t, func(t *testing.T, _ string) testTree { return dirTree(t) }) })
	t.Run("S3", func(t *testing.T) {
		gw := publishtest.StartVersityGW(t)
		testConcurrent(t, func(t *testing.T, name string) testTree { return versityTree(t, gw, "race-"+name) })
	})
}

func testConcurrent(t *testing.T, newTree func(t *testing.T, name string) testTree) {
	const app = "com.example.race"
	base := writeBuild(t, "1.0.0")
	builds := map[string]string{"1.1.0": writeBuild(t, "1.1.0"), "1.2.0": writeBuild(t, "1.2.0")}
	publishArgs := func(tree testTree, version, dir string) []string {
		return append([]string{"publish", dir, "--app", app, "--version", version, "--quiet"}, tree.flags...)
	}
	for round := range 3 {
		t.Run(fmt.Sprintf("Gated%d", round), func(t *testing.T) {
			tree := newTree(t, fmt.Sprintf("gated-%d", round))
			cliMust(t, publishArgs(tree, "1.0.0", base)...)
			kids := map[string]*child{}
			for v, dir := range builds {
				kids[v] = startHelper(t, helperSpec{Store: tree.flags, App: app, Version: v, Channel: "production",
					Build: dir, Gate: true}, tree.env...)
			}
			for v, c := range kids {
				_, ok := c.next(t, "GATE")
				require.True(t, ok, "helper %s exited before its pointer write; stderr:\n%s", v, c.stderr)
			}
			for _, c := range kids {
				c.stdin.Close() // both go on at once
			}
			codes := map[string]int{}
			for v, c := range kids {
				codes[v] = c.wait(t)
			}
			var winner, loser string
			for v, code := range codes {
				switch code {
				case 0:
					winner = v
				case exitConflict:
					loser = v
					assert.Contains(t, kids[v].stderr.String(), "another publisher changed the app", "message of the loser")
				}
			}
			require.True(t, winner != "" && loser != "", "exit statuses %v, want one 0 and one 3", codes)
			dir := tree.local(t)
			assert.Equal(t, winner, offer(t, dir, app), "version offered after the race")
			st := stateOf(t, dir, app)
			assert.NotContains(t, st.Versions, loser, "versions of the state")
			hist := st.Channels["production"].History
			assert.Len(t, hist, 2, "history after the race")
			assert.Equal(t, winner, hist[len(hist)-1].Version)
			cliMust(t, append([]string{"verify"}, tree.flags...)...)

			cliMust(t, publishArgs(tree, loser, builds[loser])...)
			assert.Equal(t, loser, offer(t, tree.local(t), app), "version offered after running the loser again")
			cliMust(t, append([]string{"verify"}, tree.flags...)...)
		})
	}
	for round := range 3 {
		t.Run(fmt.Sprintf("Free%d", round), func(t *testing.T) {
			tree := newTree(t, fmt.Sprintf("free-%d", round))
			cliMust(t, publishArgs(tree, "1.0.0", base)...)
			var wg sync.WaitGroup
			var mu sync.Mutex
			codes, errs := map[string]int{}, map[string]string{}
			for v, dir := range builds {
				wg.Go(func() {
					var out, errb bytes.Buffer
					code := Run(context.Background(), publishArgs(tree, v, dir), strings.NewReader(""), &out, &errb)
					mu.Lock()
					defer mu.Unlock()
					codes[v], errs[v] = code, errb.String()
				})
			}
			wg.Wait()
			var won []string
			for v, code := range codes {
				require.Contains(t, []int{0, exitConflict}, code, "exit status of %s: %s", v, errs[v])
				if code == 0 {
					won = append(won, v)
				}
			}
			t.Logf("exit statuses %v", codes)
			require.NotEmpty(t, won, "exit statuses %v", codes)
			dir := tree.local(t)
			st := stateOf(t, dir, app)
			hist := st.Channels["production"].History
			assert.Len(t, hist, 1+len(won), "history: one entry per winner")
			assert.Equal(t, hist[len(hist)-1].Version, offer(t, dir, app), "the channel offers the last winner")
			assert.Contains(t, won, offer(t, dir, app))
			cliMust(t, append([]string{"verify"}, tree.flags...)...)
		})
	}
}
