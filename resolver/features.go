package resolver

import (
	"strconv"
	"strings"
)

// PluginVersion is a plugin_version reduced to the numbers the answer
// features depend on; a prerelease or build suffix is ignored.
type PluginVersion struct{ Major, Minor, Patch int }

// ParsePluginVersion parses "x.y.z" with an optional "-pre" or "+build"
// suffix. It reports false for anything else.
func ParsePluginVersion(s string) (PluginVersion, bool) {
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		s = s[:i]
	}
	var v PluginVersion
	parts := [3]*int{&v.Major, &v.Minor, &v.Patch}
	for i := range parts {
		dot := strings.IndexByte(s, '.')
		seg := s
		if i < 2 {
			if dot < 0 {
				return v, false
			}
			seg, s = s[:dot], s[dot+1:]
		} else if dot >= 0 {
			return v, false
		}
		n, err := strconv.Atoi(seg)
		if err != nil || n < 0 || seg == "" || (len(seg) > 1 && seg[0] == '0') || seg[0] == '+' {
			return v, false
		}
		*parts[i] = n
	}
	return v, true
}

// atLeast reports whether v ≥ major.minor.patch.
func (v PluginVersion) atLeast(major, minor, patch int) bool {
	if v.Major != major {
		return v.Major > major
	}
	if v.Minor != minor {
		return v.Minor > minor
	}
	return v.Patch >= patch
}

// perMajor reports whether v reaches the threshold listed for its major
// (5, 6, 7; from 8 on every version does). Majors below 5 never do.
func (v PluginVersion) perMajor(t5, t6, t7 [3]int) bool {
	switch {
	case v.Major >= 8:
		return true
	case v.Major == 7:
		return v.atLeast(7, t7[1], t7[2])
	case v.Major == 6:
		return v.atLeast(6, t6[1], t6[2])
	case v.Major == 5:
		return v.atLeast(5, t5[1], t5[2])
	}
	return false
}

// Scheme choices for encrypted bundles.
const (
	schemeV1     = "v1"
	schemeV2     = "v2"
	schemeEither = "either" // 6.2.0–6.14.x: whichever key the binary carries
)

// Features are the answer features a plugin version gets, decided by
// answer-features.md alone.
type Features struct {
	// Legacy is the L label: a 5.0.1-era plugin that sends no defaultChannel.
	Legacy bool
	// Unsupported is a major 4 or lower plugin.
	Unsupported bool
	// SHA256 selects a SHA-256 checksum of a clear zip; otherwise CRC32.
	SHA256 bool
	// Scheme is the encryption scheme the device decrypts.
	Scheme string
	// V3 selects hex wrapped checksums (else base64 "V2").
	V3 bool
	// Manifest allows a delta manifest in the answer.
	Manifest bool
	// LinkComment allows link and comment keys.
	LinkComment bool
	// StatelessChannel means the device stores its channel itself, so
	// channel_self POST only validates.
	StatelessChannel bool
	// BuiltinRevert means a {"version":"builtin"} answer really reverts.
	BuiltinRevert bool
}

// FeaturesFor returns the answer features of plugin version v; hasDefault
// reports whether the request body had a defaultChannel key at all.
func FeaturesFor(v PluginVersion, hasDefault bool) Features {
	f := Features{Unsupported: v.Major <= 4}
	reissue := v.Patch == 0 && v.Minor == 0 && (v.Major == 7 || v.Major == 9 || v.Major == 10)
	f.Legacy = !hasDefault && (reissue || (v.Major == 5 && v.Minor == 0))
	if f.Legacy {
		f.Scheme = schemeV1
		return f
	}
	f.SHA256 = v.perMajor([3]int{5, 10, 0}, [3]int{6, 25, 0}, [3]int{7, 0, 30})
	f.Manifest = v.perMajor([3]int{5, 10, 0}, [3]int{6, 25, 0}, [3]int{7, 0, 35})
	f.V3 = v.perMajor([3]int{5, 30, 0}, [3]int{6, 30, 0}, [3]int{7, 30, 0})
	f.LinkComment = v.Major > 8 || (v.Major >= 5 && v.Minor >= 35)
	f.StatelessChannel = v.perMajor([3]int{5, 34, 0}, [3]int{6, 34, 0}, [3]int{7, 34, 0})
	f.BuiltinRevert = v.atLeast(6, 2, 0)
	switch {
	case v.Major == 5 && v.Minor < 10, v.Major == 6 && v.Minor < 2:
		f.Scheme = schemeV1
	case v.Major == 6 && v.Minor <= 14:
		f.Scheme = schemeEither
	default:
		f.Scheme = schemeV2
	}
	return f
}
