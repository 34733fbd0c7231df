package manifest

import (
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Platforms a channel can serve.
const (
	PlatformIOS      = "ios"
	PlatformAndroid  = "android"
	PlatformElectron = "electron"
)

// Platforms lists every platform in a fixed order.
var Platforms = []string{PlatformIOS, PlatformAndroid, PlatformElectron}

// ValidPlatform reports whether p is a platform a channel can serve.
func ValidPlatform(p string) bool {
	return p == PlatformIOS || p == PlatformAndroid || p == PlatformElectron
}

// Builtin is the reserved version name of the bundle shipped inside the app
// binary, and the channel target that reverts devices to it.
const Builtin = "builtin"

// CoerceNative turns a native version string as devices send it into strict
// semver the way Capgo's backend does: "1" ⇒ "1.0.0", "1.2" ⇒ "1.2.0",
// "builtin" and "unknown" ⇒ "0.0.0". Four numeric parts ("1.2.3.4") and other
// non-semver strings are an error.
func CoerceNative(s string) (*semver.Version, error) {
	if s == Builtin || s == "unknown" {
		s = "0.0.0"
	}
	core, rest := s, ""
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		core, rest = s[:i], s[i:]
	}
	switch strings.Count(core, ".") {
	case 0:
		core += ".0.0"
	case 1:
		core += ".0"
	}
	v, err := semver.StrictNewVersion(core + rest)
	if err != nil {
		return nil, fmt.Errorf("native version %q is not semver: %w", s, err)
	}
	return v, nil
}

// ParseBundleVersion parses a bundle version name, which must be strict
// semver (for example "1.4.0" or "1.4.0-beta.1") and not "builtin".
func ParseBundleVersion(s string) (*semver.Version, error) {
	v, err := semver.StrictNewVersion(s)
	if err != nil {
		return nil, fmt.Errorf("bundle version %q is not strict semver (x.y.z[-pre][+build]): %w", s, err)
	}
	return v, nil
}
