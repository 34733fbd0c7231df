package resolver

import "github.com/capstatic/capstatic/manifest"

// pickKey chooses the encryption record the device can decrypt, or returns
// key_id_mismatch. No device is ever sent a bundle it cannot decrypt
// (answer-features.md, key_id rows):
//   - a clear bundle goes to devices that sent no key_id (a device holding a
//     public key refuses a bundle without session key);
//   - a device that sent key_id gets the v2 record with that id;
//   - otherwise the key the channel recorded for the app binary is used,
//     and with no record the bundle is refused.
func (d *Decision) pickKey(ch *channel, b *bundle, r *Request) string {
	if !b.rec.Encrypted() && r.KeyID == "" {
		return ""
	}
	d.DeviceKey, d.BundleKey = r.KeyID, firstKeyID(b.rec, manifest.SchemeV2)
	if r.KeyID != "" {
		for i := range b.rec.Keys {
			k := &b.rec.Keys[i]
			if k.Scheme == manifest.SchemeV2 && k.KeyID == r.KeyID && r.Features.Scheme != schemeV1 {
				d.key, d.keyIndex, d.BundleKey = k, i, k.KeyID
				return ""
			}
		}
		return CodeKeyIDMismatch
	}
	recorded := false
	for _, dk := range ch.keys {
		if !schemeAllowed(r.Features.Scheme, dk.scheme) {
			continue
		}
		recorded = true
		d.DeviceKey, d.BundleKey = dk.id, firstKeyID(b.rec, dk.scheme)
		for i := range b.rec.Keys {
			if k := &b.rec.Keys[i]; k.Scheme == dk.scheme && k.KeyID == dk.id {
				d.key, d.keyIndex, d.BundleKey = k, i, k.KeyID
				return ""
			}
		}
	}
	d.Unrecorded = !recorded
	return CodeKeyIDMismatch
}

func schemeAllowed(device, key string) bool {
	return device == key || device == schemeEither
}

func firstKeyID(b *manifest.Bundle, scheme string) string {
	for _, k := range b.Keys {
		if k.Scheme == scheme {
			return k.KeyID
		}
	}
	return ""
}
