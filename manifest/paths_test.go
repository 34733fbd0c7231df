package manifest_test

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/capstatic/capstatic/manifest"
)

// backendAppID is the backend's rule, the oracle for ValidAppID.
var backendAppID = regexp.MustCompile(`(?i)^[a-z0-9]+(\.[\w-]+)+$`)

func TestValidAppID(t *testing.T) {
	for _, id := range []string{"com.example.app", "a.b", "A1.b_c-d.e", "com", ".com", "com.", "com..app",
		"com.-x", "co_m.x", "com/x.y", "com.x/../y", "", "é.x", "com.ex ample"} {
		assert.Equal(t, backendAppID.MatchString(id), manifest.ValidAppID(id), "ValidAppID(%q)", id)
	}
}

func FuzzValidAppID(f *testing.F) {
	f.Add("com.example.app")
	f.Add("a..b")
	f.Fuzz(func(t *testing.T, id string) {
		if len(id) > 255 {
			return
		}
		if got, want := manifest.ValidAppID(id), backendAppID.MatchString(id); got != want {
			t.Fatalf("ValidAppID(%q) = %v, backend rule says %v", id, got, want)
		}
	})
}
