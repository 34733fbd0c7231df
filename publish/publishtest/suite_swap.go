package publishtest

import (
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/publish"
)

// racers is the number of goroutines racing on one Swap.
const racers = 8

func testSwap(t *testing.T, s publish.Store) {
	sw, ok := s.(publish.Swapper)
	if !ok {
		t.Skipf("%T does not implement publish.Swapper", s)
	}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s publish.Store, sw publish.Swapper)
	}{
		{"CreateIfAbsent", testSwapCreate},
		{"Replace", testSwapReplace},
		{"Stale", testSwapStale},
		{"Gone", testSwapGone},
		{"Chain", testSwapChain},
		{"RaceReplace", testSwapRaceReplace},
		{"RaceCreate", testSwapRaceCreate},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, s, sw) })
	}
}

func swap(t *testing.T, sw publish.Swapper, key, content, ifMatch string) error {
	t.Helper()
	return sw.Swap(t.Context(), key, strings.NewReader(content), int64(len(content)), ifMatch)
}

func testSwapCreate(t *testing.T, s publish.Store, sw publish.Swapper) {
	const key = "create/current.json"
	require.NoError(t, swap(t, sw, key, "first", ""), "Swap(%q, ifMatch \"\") on a missing object", key)
	assert.Equal(t, "first", read(t, s, key))
	err := swap(t, sw, key, "second", "")
	assert.ErrorIs(t, err, publish.ErrConflict, "Swap(%q, ifMatch \"\") on an existing object", key)
	assert.Equal(t, "first", read(t, s, key), "content after a refused create")
}

func testSwapReplace(t *testing.T, s publish.Store, sw publish.Swapper) {
	const key = "replace/current.json"
	put(t, s, key, "v1")
	before := stat(t, s, key)
	require.NoError(t, swap(t, sw, key, "v2", before.ETag), "Swap(%q) with the current ETag", key)
	assert.Equal(t, "v2", read(t, s, key))
	after := stat(t, s, key)
	assert.NotEqual(t, before.ETag, after.ETag, "ETag after Swap")
	assert.Equal(t, int64(2), after.Size, "Size after Swap")
}

func testSwapStale(t *testing.T, s publish.Store, sw publish.Swapper) {
	const key = "stale/current.json"
	put(t, s, key, "v1")
	stale := stat(t, s, key).ETag
	put(t, s, key, "v2 written by someone else")
	err := swap(t, sw, key, "v3", stale)
	assert.ErrorIs(t, err, publish.ErrConflict, "Swap(%q) with a stale ETag", key)
	assert.Equal(t, "v2 written by someone else", read(t, s, key), "content after a refused Swap")
	err = swap(t, sw, key, "v3", "0123456789abcdef0123456789abcdef")
	assert.ErrorIs(t, err, publish.ErrConflict, "Swap(%q) with an unrelated ETag", key)
}

func testSwapGone(t *testing.T, s publish.Store, sw publish.Swapper) {
	const key = "gone/current.json"
	put(t, s, key, "v1")
	etag := stat(t, s, key).ETag
	require.NoError(t, s.Delete(t.Context(), key))
	err := swap(t, sw, key, "v2", etag)
	assert.ErrorIs(t, err, publish.ErrConflict, "Swap(%q) on a deleted object", key)
	_, err = s.Stat(t.Context(), key)
	assert.ErrorIs(t, err, fs.ErrNotExist, "Stat(%q) after a refused Swap", key)
}

// testSwapChain flips a pointer several times, each time from the ETag Stat
// reported after the previous flip, as a publisher does.
func testSwapChain(t *testing.T, s publish.Store, sw publish.Swapper) {
	const key = "chain/current.json"
	require.NoError(t, swap(t, sw, key, "seq 0", ""))
	for i := 1; i <= 5; i++ {
		etag := stat(t, s, key).ETag
		content := fmt.Sprintf("seq %d", i)
		require.NoError(t, swap(t, sw, key, content, etag), "Swap(%q) to %q", key, content)
	}
	assert.Equal(t, "seq 5", read(t, s, key))
}

func testSwapRaceReplace(t *testing.T, s publish.Store, sw publish.Swapper) {
	const key = "race/current.json"
	put(t, s, key, "base")
	raceSwap(t, s, sw, key, stat(t, s, key).ETag)
}

func testSwapRaceCreate(t *testing.T, s publish.Store, sw publish.Swapper) {
	raceSwap(t, s, sw, "race-create/current.json", "")
}

// raceSwap starts racers goroutines that Swap key from ifMatch at once,
// each with its own content, and checks that exactly one wins, that every
// other one gets [publish.ErrConflict], and that the winner's bytes remain.
func raceSwap(t *testing.T, s publish.Store, sw publish.Swapper, key, ifMatch string) {
	var (
		wins   atomic.Int32
		winner atomic.Value
		start  = make(chan struct{})
		wg     sync.WaitGroup
	)
	for i := range racers {
		content := fmt.Sprintf("written by racer %d", i)
		wg.Go(func() {
			<-start
			err := swap(t, sw, key, content, ifMatch)
			if err == nil {
				wins.Add(1)
				winner.Store(content)
				return
			}
			assert.ErrorIs(t, err, publish.ErrConflict, "losing Swap(%q)", key)
		})
	}
	close(start)
	wg.Wait()
	require.Equal(t, int32(1), wins.Load(), "racers that won Swap(%q, %q)", key, ifMatch)
	assert.Equal(t, winner.Load(), read(t, s, key), "content after the race")
}
