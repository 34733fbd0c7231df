package manifest

import (
	"fmt"
	"sort"
	"time"
)

// FormatVersion is the format number written into pointers and states.
// Readers refuse documents with a higher number.
const FormatVersion = 1

// Values of [Settings.DisableAutoUpdate], Capgo's names.
const (
	AutoUpdateNone     = "none"
	AutoUpdateMajor    = "major"
	AutoUpdateMinor    = "minor"
	AutoUpdatePatch    = "patch"
	AutoUpdateMetadata = "metadata"
)

// State is an app's immutable state document, stored at [StatePath] and named
// by its pointer. Every operation writes a new state.
type State struct {
	Format int    `json:"format"`
	App    string `json:"app"`
	// Seq increases by one with every state of the app.
	Seq     uint64    `json:"seq"`
	Updated time.Time `json:"updated"`
	// Channels by name.
	Channels map[string]*Channel `json:"channels"`
	// Defaults maps a platform to the name of its public default channel. A
	// channel is public exactly when it is some platform's default.
	Defaults map[string]string `json:"defaults,omitempty"`
	// Overrides maps a lower-case device id to a channel name (set by
	// operators with "overrides set").
	Overrides map[string]string `json:"overrides,omitempty"`
	// Versions maps every version ever published to its bundle id.
	Versions map[string]Digest `json:"versions,omitempty"`
	// Bundles holds the records of every bundle a channel can offer, keyed
	// by the id's hex form. Records of other bundles stay in the tree only.
	Bundles map[string]*Bundle `json:"bundles,omitempty"`
	// Natives lists registered native (app-store) builds.
	Natives []NativeBuild `json:"natives,omitempty"`
	// NextChannelID is the id the next created channel gets.
	NextChannelID int64 `json:"next_channel_id"`
}

// Channel is one release channel of an app.
type Channel struct {
	// ID is a stable number assigned at creation (channel_self GET lists it).
	ID       int64    `json:"id"`
	Settings Settings `json:"settings"`
	// Target is what the channel offers: "" (nothing), [Builtin], or the hex
	// id of a bundle present in [State.Bundles].
	Target string `json:"target,omitempty"`
	// Rollout offers another bundle to a share of devices; nil when none.
	Rollout *Rollout `json:"rollout,omitempty"`
	// History lists what the channel offered, oldest first.
	History []Event `json:"history,omitempty"`
	// Natives holds the channel's precomputed answer for every registered
	// native build, keyed by [NativeBuild.Key]. The publisher recomputes it
	// with every state it writes; empty when the app registers none.
	Natives map[string]NativeTarget `json:"natives,omitempty"`
	// Answers holds the channel's precomputed answer per platform; see
	// [State.Precompute].
	Answers map[string]PlatformAnswer `json:"answers,omitempty"`
}

// NativeTarget is a channel's precomputed answer for one registered native
// build.
type NativeTarget struct {
	// Target is what devices on the build are offered: the hex id of the
	// newest bundle of the channel's history compatible with the build
	// (walking back from the current target, skipping rolled-back
	// entries), [Builtin], or "" when no entry is compatible.
	Target string `json:"target"`
	// Rollout reports whether the channel's rollout bundle is compatible
	// with the build; devices on it join the rollout only then.
	Rollout bool `json:"rollout,omitempty"`
}

// Settings are a channel's policy flags, with Capgo's meaning.
type Settings struct {
	AllowSelfSet       bool   `json:"allow_device_self_set"`
	IOS                bool   `json:"ios"`
	Android            bool   `json:"android"`
	Electron           bool   `json:"electron"`
	AllowDev           bool   `json:"allow_dev"`
	AllowProd          bool   `json:"allow_prod"`
	AllowEmulator      bool   `json:"allow_emulator"`
	AllowDevice        bool   `json:"allow_device"`
	DisableAutoUpdate  string `json:"disable_auto_update"`
	DisableUnderNative bool   `json:"disable_auto_update_under_native"`
	// Disabled is the kill switch: the channel answers "no new version".
	Disabled bool `json:"disabled,omitempty"`
	// ZipOnly withholds delta manifests: devices download the whole zip.
	ZipOnly bool `json:"zip_only,omitempty"`
	// DeviceKey records the key the app binary carries, for devices that
	// send no key_id: "" (unknown), or "v1:<key id>" / "v2:<key id>".
	DeviceKey string `json:"device_key,omitempty"`
	// UnknownNative is the policy for devices on unregistered native
	// versions when native builds are registered: "" (Capgo's semantics) or
	// [UnknownNativeRefuse].
	UnknownNative string `json:"unknown_native,omitempty"`
}

// UnknownNativeRefuse is the [Settings.UnknownNative] value that answers
// "no new version" to devices on unregistered native versions.
const UnknownNativeRefuse = "refuse"

// Platform reports whether the settings enable platform p.
func (s Settings) Platform(p string) bool {
	switch p {
	case PlatformIOS:
		return s.IOS
	case PlatformAndroid:
		return s.Android
	case PlatformElectron:
		return s.Electron
	}
	return false
}

// DefaultSettings are Capgo's settings for a new channel.
func DefaultSettings() Settings {
	return Settings{
		IOS: true, Android: true, Electron: true,
		AllowDev: true, AllowProd: true, AllowEmulator: true, AllowDevice: true,
		DisableAutoUpdate: AutoUpdateMajor, DisableUnderNative: true,
	}
}

// DevSettings are the permissive settings of a watch-mode channel.
func DevSettings() Settings {
	s := DefaultSettings()
	s.AllowSelfSet = true
	s.DisableAutoUpdate = AutoUpdateNone
	s.DisableUnderNative = false
	return s
}

// Rollout offers Target to devices whose bucket is below BPS.
type Rollout struct {
	Target string `json:"target"`
	// BPS is the share of devices in basis points, 0 to 10000.
	BPS int `json:"bps"`
	// Salt is drawn fresh for every new rollout target and kept when the
	// percentage changes, so raising the share only adds devices.
	Salt   string `json:"salt"`
	Paused bool   `json:"paused,omitempty"`
}

// Event is one entry of a channel's history.
type Event struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Action  string    `json:"action"`
	Target  string    `json:"target"`
	Version string    `json:"version"`
	// RolledBack marks an entry that a later rollback moved away from.
	RolledBack bool `json:"rolled_back,omitempty"`
}

// NativeBuild is one registered app-store build.
type NativeBuild struct {
	Platform string `json:"platform"`
	// Version is the native version, coerced to strict semver as devices'
	// version_build is (see [CoerceNative]).
	Version     string `json:"version"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

// Key names the build in [Channel.Natives]: platform "/" version.
func (n NativeBuild) Key() string { return n.Platform + "/" + n.Version }

// NewState returns the empty state of app.
func NewState(app string) *State {
	return &State{Format: FormatVersion, App: app, Channels: map[string]*Channel{}, NextChannelID: 1}
}

// Clone returns a deep copy of s, made by encoding and decoding it.
func (s *State) Clone() *State {
	b, err := EncodeState(s)
	if err != nil {
		panic(fmt.Sprintf("manifest: clone of unencodable state: %v", err))
	}
	c, err := DecodeState(b)
	if err != nil {
		panic(fmt.Sprintf("manifest: clone of invalid state: %v", err))
	}
	return c
}

// Public reports whether channel name is some platform's default.
func (s *State) Public(name string) bool {
	for _, c := range s.Defaults {
		if c == name {
			return true
		}
	}
	return false
}

// ChannelNames returns the channel names in sorted order.
func (s *State) ChannelNames() []string {
	names := make([]string, 0, len(s.Channels))
	for n := range s.Channels {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Bundle returns the record of the bundle a target names, or nil.
func (s *State) Bundle(target string) *Bundle {
	if target == "" || target == Builtin {
		return nil
	}
	return s.Bundles[target]
}

// Prune drops bundle records no channel target, rollout or precomputed
// native answer references.
func (s *State) Prune() {
	live := map[string]bool{}
	for _, c := range s.Channels {
		live[c.Target] = true
		if c.Rollout != nil {
			live[c.Rollout.Target] = true
		}
		for _, n := range c.Natives {
			live[n.Target] = true
		}
	}
	for id := range s.Bundles {
		if !live[id] {
			delete(s.Bundles, id)
		}
	}
}
