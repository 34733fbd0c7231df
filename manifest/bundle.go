package manifest

import "time"

// Encryption schemes a bundle can be encrypted with, as the plugin names them.
const (
	// SchemeV1 is the legacy scheme: the device holds an RSA private key, the
	// AES key is wrapped with RSA-OAEP-SHA256, the checksum is a plain CRC32.
	SchemeV1 = "v1"
	// SchemeV2 is the current scheme: the device holds an RSA public key, the
	// AES key and the SHA-256 checksum are wrapped with the private key
	// (PKCS#1 type 1).
	SchemeV2 = "v2"
)

// Bundle is the immutable record of one published bundle (one version of the
// web build of one app). It is stored at [BundleRecordPath] and embedded in
// every [State] whose channels can offer it.
type Bundle struct {
	// ID names the bundle's folder in the tree; see [BundleID].
	ID Digest `json:"id"`
	// Version is the bundle's version name, a strict semver string.
	Version string `json:"version"`
	// Created is when the bundle was first published.
	Created time.Time `json:"created"`
	// Size, SHA256 and CRC32 describe the clear zip, whether or not the clear
	// zip is stored. CRC32 is 8 lowercase hex characters. SHA256 may be zero
	// for an imported encrypted zip whose clear bytes were never seen.
	Size   int64  `json:"size"`
	SHA256 Digest `json:"sha256"`
	CRC32  string `json:"crc32"`
	// Zip is the clear zip object; nil for an encrypted release, which stores
	// ciphertext only.
	Zip *Object `json:"zip,omitempty"`
	// Files is the clear per-file delta set (empty for encrypted releases).
	Files []File `json:"files,omitempty"`
	// Keys holds one record per device key the bundle was encrypted for.
	Keys []Encryption `json:"keys,omitempty"`
	// MinUpdateVersion is the lowest native version this bundle may be
	// offered to when a channel's disable_auto_update is "metadata".
	MinUpdateVersion string `json:"min_update_version,omitempty"`
	// Link and Comment are passed to plugins that show them.
	Link    string `json:"link,omitempty"`
	Comment string `json:"comment,omitempty"`
	// Fingerprint identifies the native code the bundle was built against;
	// empty when unknown.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Native is an explicit semver range of native versions the bundle is
	// allowed on, overriding fingerprint matching; empty when unset.
	Native string `json:"native,omitempty"`
}

// Object describes one stored object: its tree path, length and digest.
// SHA256 is the digest of the stored bytes; it is zero when unknown, which
// is always the case for the object of a [File] read back from a record
// (see [File.MarshalJSON]).
type Object struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 Digest `json:"sha256"`
}

// File is one entry of a bundle's clear delta set.
//
// Records hold one File per file of the build, and every publish writes
// them twice (the bundle record and the state), so a File has a compact
// JSON form; see [File.MarshalJSON]. The struct tags name the fields of the
// long form, used for entries the compact form cannot describe.
type File struct {
	// Name is the path inside the bundle, '/'-separated, without ".br".
	Name string `json:"name"`
	// SHA256 and Size describe the uncompressed content.
	SHA256 Digest `json:"sha256"`
	Size   int64  `json:"size"`
	// Brotli reports whether Object holds the brotli-compressed content, in
	// which case the wire file_name carries a ".br" suffix.
	Brotli bool `json:"br,omitempty"`
	// Object is the stored object the device downloads. Its path is
	// normally [FilePath](app, SHA256, Brotli), and its SHA256 is not
	// recorded: the object is checked through its content (after brotli
	// decoding), which SHA256 and Size describe.
	Object Object `json:"object"`
}

// WireName is the file_name sent in a protocol manifest entry.
func (f File) WireName() string {
	if f.Brotli {
		return f.Name + ".br"
	}
	return f.Name
}

// Encryption is the record of a bundle encrypted for one device key.
type Encryption struct {
	// Scheme is [SchemeV1] or [SchemeV2].
	Scheme string `json:"scheme"`
	// KeyID is the plugin's key id: the first 20 characters of the base64
	// body of the public key PEM.
	KeyID string `json:"key_id"`
	// Zip is the encrypted zip object.
	Zip Object `json:"zip"`
	// SessionKey is base64(iv) ":" base64(wrapped AES key).
	SessionKey string `json:"session_key"`
	// ChecksumV3 (512 hex) and ChecksumV2 (base64) are the wrapped SHA-256 of
	// the clear zip in the two encodings plugins expect (v2 only).
	ChecksumV3 string `json:"checksum_v3,omitempty"`
	ChecksumV2 string `json:"checksum_v2,omitempty"`
	// Files is the encrypted delta set of this bundle (v2 only).
	Files []EncryptedFile `json:"files,omitempty"`
}

// EncryptedFile is one delta entry of an encrypted bundle. Its JSON form
// has short keys; see [EncryptedFile.MarshalJSON].
type EncryptedFile struct {
	Name   string
	Size   int64
	Brotli bool
	// HashV3 and HashV2 are the wrapped SHA-256 of the clear file content.
	HashV3 string
	HashV2 string
	// Object is the ciphertext object; its path names a digest that cannot
	// be derived, and its SHA256 is recorded.
	Object Object
}

// WireName is the file_name sent in a protocol manifest entry.
func (f EncryptedFile) WireName() string {
	if f.Brotli {
		return f.Name + ".br"
	}
	return f.Name
}

// BundleID derives a bundle's id from its version and the digest of its
// content (the clear zip, or the encrypted zip when only that is known).
// Publishing the same bytes under the same version yields the same id.
func BundleID(version string, content Digest) Digest {
	return Sum([]byte("capstatic-bundle\x00" + version + "\x00" + content.String()))
}

// Key returns the encryption record for scheme and key id, or nil.
func (b *Bundle) Key(scheme, keyID string) *Encryption {
	for i := range b.Keys {
		if b.Keys[i].Scheme == scheme && b.Keys[i].KeyID == keyID {
			return &b.Keys[i]
		}
	}
	return nil
}

// Encrypted reports whether the bundle has no clear zip.
func (b *Bundle) Encrypted() bool { return b.Zip == nil }
