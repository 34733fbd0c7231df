package publishtest_test

import (
	"testing"

	"github.com/capstatic/capstatic/publish"
	"github.com/capstatic/capstatic/publish/publishtest"
)

func TestMemory(t *testing.T) {
	publishtest.TestStore(t, func(*testing.T) publish.Store { return publishtest.NewMemory() })
}
