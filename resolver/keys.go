package resolver

import "github.com/capstatic/capstatic/manifest"

// pickKey chooses the encryption record the device can decrypt, or returns
// key_id_mismatch. No device is ever sent a bundle it cannot decrypt
// (answer-features.md, key_id rows):
//   - a clear bundle goes to devices that sent no key_id (a device holding a
//     public key refuses a bundle without session key);
//   - a device that sent key_id gets the v2 record with that id;
//   - otherwise the first key of the channel's record (--device-key) whose
//     scheme the plugin decrypts is used, and with no record the bundle is
//     refused;
//   - a v2 record without the checksum encoding (V3 hex or V2 base64) the
//     plugin version reads is refused too.
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
				return d.checkEncoding(r)
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
				return d.checkEncoding(r)
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

// checkEncoding refuses a v2 record that lacks the wrapped checksum
// encoding the device reads (an imported Capgo artefact carries only the
// one its CLI produced): the device would fail the download.
func (d *Decision) checkEncoding(r *Request) string {
	k := d.key
	if k.Scheme != manifest.SchemeV2 || (r.Features.V3 && k.ChecksumV3 != "") || (!r.Features.V3 && k.ChecksumV2 != "") {
		return ""
	}
	d.key, d.MissingEncoding = nil, true
	return CodeKeyIDMismatch
}
