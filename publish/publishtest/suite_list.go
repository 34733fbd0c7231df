package publishtest

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/publish"
)

func testList(t *testing.T, s publish.Store) {
	l, ok := s.(publish.Lister)
	if !ok {
		t.Skipf("%T does not implement publish.Lister", s)
	}
	objects := map[string]string{
		"index.json":                      "[]",
		"app/current.json":                "pointer",
		"app/states/0a1b.json":            "state",
		"app/bundles/0a1b/bundle.zip":     "zip bytes",
		"apple/current.json":              "another app",
		"other.app/files/0a1b/c2d3.br":    "brotli",
		"other.app/files/0a1b/c2d3.br.gz": "unrelated",
	}
	for k, v := range objects {
		put(t, s, k, v)
	}
	keysUnder := func(prefix string) []string {
		var keys []string
		for k := range objects {
			if strings.HasPrefix(k, prefix) {
				keys = append(keys, k)
			}
		}
		return keys
	}
	for _, prefix := range []string{"", "app/", "app", "app/bundles/", "other.app/files/0a1b/c2d3.br", "missing/"} {
		t.Run("Prefix="+prefix, func(t *testing.T) {
			got := list(t, s, l, prefix)
			keys := make([]string, 0, len(got))
			for k, info := range got {
				keys = append(keys, k)
				want := stat(t, s, k)
				assert.Equal(t, want.Size, info.Size, "List(%q) size of %q", prefix, k)
				if info.ETag != "" {
					assert.Equal(t, want.ETag, info.ETag, "List(%q) ETag of %q", prefix, k)
				}
			}
			assert.ElementsMatch(t, keysUnder(prefix), keys, "List(%q)", prefix)
		})
	}
	t.Run("StopOnError", func(t *testing.T) { testListStop(t, l) })
}

// list returns what List reports under prefix, failing on a key reported
// twice.
func list(t *testing.T, s publish.Store, l publish.Lister, prefix string) map[string]publish.Info {
	t.Helper()
	got := make(map[string]publish.Info)
	err := l.List(t.Context(), prefix, func(key string, info publish.Info) error {
		_, dup := got[key]
		assert.False(t, dup, "List(%q) reported %q twice", prefix, key)
		got[key] = info
		return nil
	})
	require.NoError(t, err, "List(%q)", prefix)
	return got
}

func testListStop(t *testing.T, l publish.Lister) {
	errStop := errors.New("publishtest: stop")
	calls := 0
	err := l.List(t.Context(), "", func(string, publish.Info) error {
		calls++
		return errStop
	})
	assert.ErrorIs(t, err, errStop, "List with fn failing")
	assert.Equal(t, 1, calls, "calls of fn after it failed")
}
