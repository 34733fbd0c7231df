package resolver

import (
	"fmt"
	"strings"
	"sync"

	"github.com/Masterminds/semver/v3"

	"github.com/capstatic/capstatic/manifest"
)

// App is the resolver's read-only, precomputed form of one app's state:
// channels resolved to pointers, versions parsed once, answer bytes built
// at most once per variant. It is safe for concurrent use.
type App struct {
	ID    string
	Seq   uint64
	State *manifest.State

	channels  map[string]*channel
	defaults  map[string]*channel
	overrides map[string]*channel
	urls      URLs
	revert    []byte
}

// URLs says how the resolver turns tree paths into absolute URLs.
type URLs struct {
	// Files is the base URL tree paths are appended to (a CDN, or the
	// resolver's own file server), without a trailing slash.
	Files string
	// Builtin is the URL sent with a revert-to-builtin answer; the plugin
	// requires a valid URL but never downloads it.
	Builtin string
}

type channel struct {
	// check is the precomputed platform check per platform (a refusal
	// code, or "" when the channel serves the platform).
	check   map[string]string
	name    string
	id      int64
	s       manifest.Settings
	public  bool
	builtin bool
	target  *bundle
	rollout *bundle
	bps     int
	salt    string
	keys    []deviceKey
	// natives maps platform → coerced native version → the precomputed
	// answer for a registered build; a platform absent is not gated
	// (native.go).
	natives map[string]map[string]*nativeOffer
}

type deviceKey struct{ scheme, id string }

type bundle struct {
	rec       *manifest.Bundle
	version   *semver.Version
	minUpdate *semver.Version // nil when unset or unparsable
	// answers holds the encoded update answers: variantCount slots for
	// the clear zip, then variantCount per encryption record.
	answers []lazyAnswer
}

type lazyAnswer struct {
	once sync.Once
	b    []byte
}

// NewApp precomputes an [App] from a validated state.
func NewApp(st *manifest.State, urls URLs) (*App, error) {
	a := &App{ID: st.App, Seq: st.Seq, State: st, urls: urls,
		channels: map[string]*channel{}, defaults: map[string]*channel{}, overrides: map[string]*channel{},
		revert: revertAnswer(urls)}
	bundles := map[string]*bundle{}
	for id, rec := range st.Bundles {
		b, err := newBundle(rec)
		if err != nil {
			return nil, err
		}
		bundles[id] = b
	}
	for name, c := range st.Channels {
		ch, err := newChannel(name, c, st, bundles)
		if err != nil {
			return nil, err
		}
		a.channels[name] = ch
	}
	for p, name := range st.Defaults {
		a.defaults[p] = a.channels[name]
	}
	for dev, name := range st.Overrides {
		if ch := a.channels[name]; ch != nil {
			a.overrides[strings.ToLower(dev)] = ch
		}
	}
	return a, nil
}

func newBundle(rec *manifest.Bundle) (*bundle, error) {
	v, err := manifest.ParseBundleVersion(rec.Version)
	if err != nil {
		return nil, err
	}
	b := &bundle{rec: rec, version: v, answers: make([]lazyAnswer, variantCount*(1+len(rec.Keys)))}
	if rec.MinUpdateVersion != "" {
		b.minUpdate, _ = manifest.CoerceNative(rec.MinUpdateVersion)
	}
	return b, nil
}

func newChannel(name string, c *manifest.Channel, st *manifest.State, bundles map[string]*bundle) (*channel, error) {
	answers := c.Answers
	if len(answers) == 0 { // a state written without precomputation
		answers = c.PlatformAnswers()
	}
	ch := &channel{name: name, id: c.ID, s: c.Settings, public: st.Public(name),
		builtin: c.Target == manifest.Builtin, target: bundles[c.Target], check: map[string]string{}}
	for p, a := range answers {
		ch.check[p] = a.Check
	}
	if r := c.Rollout; r != nil && bundles[r.Target] != nil {
		ch.rollout, ch.bps, ch.salt = bundles[r.Target], r.BPS, r.Salt
	}
	for _, k := range strings.Split(c.Settings.DeviceKey, ",") {
		scheme, id, ok := strings.Cut(strings.TrimSpace(k), ":")
		if !ok {
			continue
		}
		if scheme != manifest.SchemeV1 && scheme != manifest.SchemeV2 {
			return nil, fmt.Errorf("channel %q: device key scheme %q", name, scheme)
		}
		ch.keys = append(ch.keys, deviceKey{scheme, id})
	}
	if err := ch.addNatives(c, st, bundles); err != nil { // native.go
		return nil, err
	}
	return ch, nil
}

// Channel reports whether the app has a channel called name.
func (a *App) Channel(name string) bool { return a.channels[name] != nil }
