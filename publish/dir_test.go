package publish_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/publish"
	"github.com/capstatic/capstatic/publish/publishtest"
)

func TestDir(t *testing.T) {
	publishtest.TestStore(t, func(t *testing.T) publish.Store {
		d, err := publish.NewDir(t.TempDir())
		require.NoError(t, err)
		return d
	})
}
