package resolver

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/capstatic/capstatic/manifest"
)

// Lookup finds a device's channel override for an app.
type Lookup interface {
	// Lookup returns the channel name for (app, device), device lower-cased.
	Lookup(app, device string) (channel string, ok bool)
}

// Overrides are the override sources outside the app state, in the order of
// DESIGN.md: File (the operator's KV file given to serve) wins over the
// state's own overrides, which win over Devices (overrides stored for
// plugins that keep their channel on the server). Either may be nil.
type Overrides struct {
	File    Lookup
	Devices Lookup
}

// How a channel was chosen, for [Decision.Via].
const (
	ViaFile     = "override (KV file)"
	ViaState    = "override (app state)"
	ViaDevice   = "override (set by the device)"
	ViaDefault  = "defaultChannel"
	ViaPlatform = "platform default"
)

// Decision is the outcome of [Resolve]: an update (Code == "") or a refusal,
// with the rule that decided it and the facts [Explain] prints.
type Decision struct {
	Code string
	// Rule names the rule that decided, e.g. "policy.disable_auto_update".
	Rule    string
	Channel string
	Via     string
	// Bucket is the device's rollout bucket (0–9999), or -1 when the
	// channel has no rollout.
	Bucket    int
	InRollout bool
	// Revert means the answer reverts the device to its builtin bundle.
	Revert bool
	ch     *channel
	bundle *bundle
	// key is the encryption record served, nil for a clear bundle.
	key       *manifest.Encryption
	keyIndex  int
	DeviceKey string
	BundleKey string
	// Unrecorded marks a key_id_mismatch caused by a missing key record;
	// MissingEncoding one caused by a record without the checksum encoding
	// the plugin reads.
	Unrecorded, MissingEncoding bool
}

// Version is the version the decision concerns ("" when none).
func (d *Decision) Version() string {
	switch {
	case d.Revert:
		return manifest.Builtin
	case d.bundle != nil:
		return d.bundle.rec.Version
	}
	return ""
}

func (d Decision) refuse(code, rule string) Decision {
	d.Code, d.Rule = code, rule
	return d
}

// Resolve decides the answer to one update request. It is pure: the same
// app, request and overrides always give the same decision, and it does no
// I/O. The order is Capgo's (capgo-protocol.md §1.4) with the features of
// answer-features.md.
func Resolve(a *App, r *Request, ov Overrides) Decision {
	d := Decision{Bucket: -1}
	if r.Features.Unsupported {
		return d.refuse(CodeUnsupportedPlugin, "plugin.unsupported")
	}
	ch := a.pickChannel(r, ov, &d)
	if ch == nil {
		return d.refuse(CodeNoChannel, "channel.none")
	}
	d.Channel, d.ch = ch.name, ch
	if ch.s.Disabled {
		return d.refuse(CodeNoNewVersion, "channel.disabled")
	}
	target, builtin, rule := ch.pick(a.ID, r, &d) // native gating: native.go
	if rule != "" {
		return d.refuse(CodeNoNewVersion, rule)
	}
	if target == nil && !builtin {
		return d.refuse(CodeNoBundle, "channel.no_bundle")
	}
	if target == nil {
		return d.builtin(r)
	}
	d.bundle = target
	if code := d.pickKey(ch, target, r); code != "" {
		return d.refuse(code, "key.mismatch")
	}
	if r.VersionName == target.rec.Version {
		return d.refuse(CodeNoNewVersion, "version.same")
	}
	if code, rule := policy(ch, target, r, d.Via); code != "" {
		return d.refuse(code, rule)
	}
	d.Rule = "update"
	return d
}

func (a *App) pickChannel(r *Request, ov Overrides, d *Decision) *channel {
	if ch := a.lookup(ov.File, r.DeviceID); ch != nil {
		d.Via = ViaFile
		return ch
	}
	if ch := a.overrides[r.DeviceID]; ch != nil {
		d.Via = ViaState
		return ch
	}
	if ch := a.lookup(ov.Devices, r.DeviceID); ch != nil {
		d.Via = ViaDevice
		return ch
	}
	if r.DefaultChannel != "" {
		ch := a.channels[r.DefaultChannel]
		if ch == nil || !ch.s.Platform(r.Platform) || !(ch.public || ch.s.AllowSelfSet) {
			return nil // no fallback to the public channel, as the backend
		}
		d.Via = ViaDefault
		return ch
	}
	ch := a.defaults[r.Platform]
	if ch == nil || !ch.s.Platform(r.Platform) {
		return nil
	}
	d.Via = ViaPlatform
	return ch
}

// lookup resolves an override; one naming a deleted channel is ignored.
func (a *App) lookup(l Lookup, device string) *channel {
	if l == nil {
		return nil
	}
	name, ok := l.Lookup(a.ID, device)
	if !ok {
		return nil
	}
	return a.channels[name]
}

// pickTarget returns the bundle the channel offers this device: the
// rollout bundle when the device's bucket is inside the rollout share, else
// the stable one. Nil means builtin or nothing.
func (ch *channel) pickTarget(app string, r *Request, d *Decision) *bundle {
	if ch.rollout != nil {
		d.Bucket = Bucket(ch.salt, app, r.DeviceID)
		if d.Bucket < ch.bps {
			d.InRollout = true
			return ch.rollout
		}
	}
	if ch.builtin {
		return nil
	}
	return ch.target
}

// Bucket is a device's rollout bucket in [0, 10000): the first 8 bytes of
// SHA-256(salt ‖ app ‖ device) as a big-endian integer, modulo 10000.
// device must already be lower-cased.
func Bucket(salt, app, device string) int {
	var buf [192]byte
	b := append(append(append(buf[:0], salt...), app...), device...)
	sum := sha256.Sum256(b)
	return int(binary.BigEndian.Uint64(sum[:8]) % 10000)
}

func (d Decision) builtin(r *Request) Decision {
	switch {
	case r.OnBuiltin:
		return d.refuse(CodeAlreadyOnBuiltin, "builtin.already")
	case !r.Features.Legacy && r.Features.BuiltinRevert:
		d.Revert, d.Rule = true, "builtin.revert"
		return d
	}
	return d.refuse(CodeRevertTooOld, "builtin.too_old")
}
