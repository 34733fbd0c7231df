package pages_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/publish"
	"github.com/capstatic/capstatic/publish/pages"
)

func TestPrepare(t *testing.T) {
	root := filepath.Join(t.TempDir(), "site")
	require.NoError(t, pages.Prepare(root))
	st, err := os.Stat(filepath.Join(root, pages.NoJekyll))
	require.NoError(t, err, "the marker after Prepare")
	assert.Equal(t, int64(0), st.Size())
	require.NoError(t, pages.Prepare(root), "Prepare again")

	d, err := publish.NewDir(root)
	require.NoError(t, err)
	var keys []string
	require.NoError(t, d.List(t.Context(), "", func(k string, _ publish.Info) error { keys = append(keys, k); return nil }))
	assert.Empty(t, keys, "keys of a prepared, empty tree")
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "files in the folder: %v", entries)
}
