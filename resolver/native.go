package resolver

import (
	"fmt"

	"github.com/capstatic/capstatic/manifest"
)

// Native gating (DESIGN.md, "Precomputed answers"). When an app registers
// native builds, the publisher stores for every channel and registered build
// the newest bundle of the channel's history compatible with that build. A
// device whose (platform, coerced version_build) is a registered build gets
// that bundle; the rollout bundle only when it is compatible too. A device
// on an unregistered native version of a gated platform follows the
// channel's unknown-native setting: Capgo's semantics (the channel's
// target) or a refusal. A platform with no registered build is not gated.
// The request-time cost is two map lookups.

// Rules of native gating, for [Decision.Rule].
const (
	RuleNativeIncompatible = "native.no_compatible"
	RuleNativeUnregistered = "native.unregistered"
)

// nativeOffer is a channel's precomputed answer for one registered build.
type nativeOffer struct {
	build string // "ios 1.4.0", for Explain
	// target is the bundle offered; nil with builtin set reverts to the
	// builtin bundle, nil without it means nothing is compatible.
	target  *bundle
	builtin bool
	// rollout reports whether the channel's rollout bundle is compatible.
	rollout bool
}

// addNatives loads the channel's precomputed native answers. A registered
// build without an answer (a state written without precomputation) is
// offered nothing.
func (ch *channel) addNatives(c *manifest.Channel, st *manifest.State, bundles map[string]*bundle) error {
	for _, n := range st.Natives {
		v, err := manifest.CoerceNative(n.Version)
		if err != nil || !manifest.ValidPlatform(n.Platform) {
			return fmt.Errorf("native build %q %q: invalid platform or version", n.Platform, n.Version)
		}
		nt := c.Natives[n.Key()]
		o := &nativeOffer{build: n.Platform + " " + v.String(), rollout: nt.Rollout}
		switch nt.Target {
		case "":
		case manifest.Builtin:
			o.builtin = true
		default:
			if o.target = bundles[nt.Target]; o.target == nil {
				return fmt.Errorf("channel %q: the answer for native build %s names bundle %s, which has no record", ch.name, o.build, nt.Target)
			}
		}
		if ch.natives == nil {
			ch.natives = map[string]map[string]*nativeOffer{}
		}
		if ch.natives[n.Platform] == nil {
			ch.natives[n.Platform] = map[string]*nativeOffer{}
		}
		ch.natives[n.Platform][v.String()] = o
	}
	return nil
}

// pick returns what the channel offers this device after native gating:
// the bundle (nil for builtin or nothing), whether the offer is the builtin
// bundle, and the rule of a refusal ("" when none).
func (ch *channel) pick(app string, r *Request, d *Decision) (*bundle, bool, string) {
	builds := ch.natives[r.Platform]
	if builds == nil {
		return ch.pickTarget(app, r, d), ch.builtin, ""
	}
	o := builds[r.VersionBuild]
	if o == nil {
		if ch.s.UnknownNative == manifest.UnknownNativeRefuse {
			return nil, false, RuleNativeUnregistered
		}
		return ch.pickTarget(app, r, d), ch.builtin, ""
	}
	if ch.rollout != nil {
		d.Bucket = Bucket(ch.salt, app, r.DeviceID)
		if o.rollout && d.Bucket < ch.bps {
			d.InRollout = true
			return ch.rollout, false, ""
		}
	}
	switch {
	case ch.target == nil && !ch.builtin:
		return nil, false, "" // the channel offers nothing: no_bundle
	case o.target == nil && !o.builtin:
		return nil, false, RuleNativeIncompatible
	}
	return o.target, o.builtin, ""
}

// nativeStep explains native gating for the device of r on the channel d
// chose; "" when the app registers no native build.
func (a *App) nativeStep(d *Decision, r *Request) string {
	ch := a.channels[d.Channel]
	if ch == nil || len(a.State.Natives) == 0 {
		return ""
	}
	builds := ch.natives[r.Platform]
	if builds == nil {
		return fmt.Sprintf("native gating: no native build is registered for %s, so none applies", r.Platform)
	}
	o := builds[r.VersionBuild]
	switch {
	case o == nil && ch.s.UnknownNative == manifest.UnknownNativeRefuse:
		return fmt.Sprintf("native gating: %s %s is not a registered native build and the channel refuses unregistered ones", r.Platform, r.VersionBuild)
	case o == nil:
		return fmt.Sprintf("native gating: %s %s is not a registered native build: Capgo's semantics, the channel's target", r.Platform, r.VersionBuild)
	}
	s := "native gating: registered build " + o.build + " matched"
	switch {
	case d.InRollout:
		return s + fmt.Sprintf("; the rollout bundle %s is compatible with it", ch.rollout.rec.Version)
	case ch.rollout != nil && !o.rollout:
		s += "; the rollout bundle is not compatible with it"
	}
	switch {
	case o.builtin:
		return s + "; the newest compatible entry of the channel's history is builtin"
	case o.target != nil:
		return s + "; newest compatible bundle of the channel's history: " + o.target.rec.Version
	}
	return s + "; no bundle of the channel's history is compatible with it"
}
