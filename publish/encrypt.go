package publish

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"io"
	"os"

	"github.com/capstatic/capstatic/delta"
	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish/e2e"
)

// An encrypted release (a [Release] with [Release.Keys]) stores ciphertext
// only: for each key one encrypted zip at [manifest.EncryptedZipPath] and,
// for a v2 key, one encrypted object per delta file at
// [manifest.EncryptedFilePath]. No clear zip and no clear delta object is
// written; the record still holds the clear zip's size, SHA-256 and CRC32,
// which the resolver sends (CRC32 to v1 devices) and operators verify
// against.
//
// Every encrypted publish draws a fresh AES key and IV per device key, and
// the plugin decrypts a bundle's zip and all its delta files with that one
// key and IV (protocol §4.3). So encrypted objects cannot be shared between
// versions the way clear delta objects are: there is no cross-version
// deduplication for encrypted bundles. Sharing would mean reusing a key and
// IV across bundles, which makes equal plaintext blocks visible across
// versions; capstatic has no switch for that on purpose.
//
// The bundle id of an encrypted release is derived from its version and the
// digests of its encrypted zips, so it is new for every encrypted publish
// and no object of it is ever overwritten, even by a publisher racing on
// the same version. Publishing the same version again with the same clear
// zip and the same keys reuses the stored bundle (Result.Unchanged);
// anything else fails with [ErrVersionExists].

// Key is a device key a release is encrypted for (protocol §4).
type Key struct {
	// Scheme is [manifest.SchemeV2] or [manifest.SchemeV1].
	Scheme string
	// Private is the publisher's private key of a v2 key; devices hold its
	// public key. Unused for v1.
	Private *rsa.PrivateKey
	// Public is the public key of a v1 key; legacy devices hold its
	// private key, which the publisher never needs. Unused for v2.
	Public *rsa.PublicKey
}

// PublicKey returns the public half of k: the key the device holds for v2,
// the key the publisher encrypts to for v1. It is nil for an incomplete Key.
func (k Key) PublicKey() *rsa.PublicKey {
	switch {
	case k.Scheme == manifest.SchemeV2 && k.Private != nil:
		return &k.Private.PublicKey
	case k.Scheme == manifest.SchemeV1:
		return k.Public
	}
	return nil
}

// ID returns the plugin's key_id of k ([e2e.KeyID] of its public key).
func (k Key) ID() string { return e2e.KeyID(k.PublicKey()) }

// Digest returns the digest that names k's encrypted zips: the SHA-256 of
// its public key in PKCS#1 DER form.
func (k Key) Digest() manifest.Digest { return keyDigest(k.PublicKey()) }

func keyDigest(pub *rsa.PublicKey) manifest.Digest {
	return manifest.Sum(x509.MarshalPKCS1PublicKey(pub))
}

// checkKeys refuses unknown schemes, missing or non-2048-bit keys, and a
// key listed twice (its objects would share a path). Errors name keys by
// key_id only.
func checkKeys(keys []Key) error {
	seen := map[manifest.Digest]bool{}
	for i, k := range keys {
		if k.Scheme != manifest.SchemeV1 && k.Scheme != manifest.SchemeV2 {
			return fmt.Errorf("key %d: unknown scheme %q", i+1, k.Scheme)
		}
		pub := k.PublicKey()
		if pub == nil || pub.N == nil {
			return fmt.Errorf("key %d (%s): missing rsa key", i+1, k.Scheme)
		}
		if n := pub.N.BitLen(); n != e2e.KeyBits {
			return fmt.Errorf("key %d (%s): %w: it has %d bits", i+1, k.Scheme, e2e.ErrKeySize, n)
		}
		d := k.Digest()
		if seen[d] {
			return fmt.Errorf("key %s is listed twice", k.ID())
		}
		seen[d] = true
	}
	return nil
}

// seal starts k's session for one bundle: a fresh AES key and IV.
func (k Key) seal() (*e2e.Session, error) {
	if k.Scheme == manifest.SchemeV1 {
		return e2e.SealV1(k.Public, nil)
	}
	return e2e.SealV2(k.Private, nil)
}

// publishEncrypted is [Publisher.Publish] for a release with keys, once
// the clear zip z of the scanned entries is built.
func (p *Publisher) publishEncrypted(ctx context.Context, rel Release, head *Head, entries []delta.Entry, z *builtZip) (*Result, error) {
	if err := checkKeys(rel.Keys); err != nil {
		return nil, err
	}
	res := &Result{}
	rec, err := p.sameEncrypted(ctx, rel, head.State, z.sha256)
	if err != nil {
		return nil, err
	}
	if rec != nil {
		res.Unchanged = true
	} else if rec, err = p.writeEncrypted(ctx, rel, entries, z, res); err != nil {
		return nil, err
	}
	return p.finish(ctx, rel, head, rec, res)
}

// sameEncrypted returns the stored record of rel.Version when that version
// is already published encrypted from the same clear zip for exactly the
// same keys, nil when the version is new, and [ErrVersionExists] otherwise.
func (p *Publisher) sameEncrypted(ctx context.Context, rel Release, st *manifest.State, sum manifest.Digest) (*manifest.Bundle, error) {
	id, ok := st.Versions[rel.Version]
	if !ok {
		return nil, nil
	}
	prev, err := p.record(ctx, rel.App, st, id)
	if err != nil {
		return nil, err
	}
	same := prev.Encrypted() && prev.SHA256 == sum && len(prev.Keys) == len(rel.Keys)
	for i := 0; same && i < len(rel.Keys); i++ {
		k := rel.Keys[i]
		e := prev.Key(k.Scheme, k.ID())
		same = e != nil && e.Zip.Path == manifest.EncryptedZipPath(rel.App, prev.ID, k.Digest())
	}
	if !same {
		return nil, fmt.Errorf("%s %s: %w", rel.App, rel.Version, ErrVersionExists)
	}
	return prev, nil
}

// record returns bundle id of app from st, or from its stored record when
// the state no longer holds it.
func (p *Publisher) record(ctx context.Context, app string, st *manifest.State, id manifest.Digest) (*manifest.Bundle, error) {
	if b := st.Bundles[id.String()]; b != nil {
		return b, nil
	}
	raw, err := readAll(ctx, p.Store, manifest.BundleRecordPath(app, id), manifest.MaxBundleSize)
	if err != nil {
		return nil, err
	}
	return manifest.DecodeBundle(app, raw)
}

// writeEncrypted encrypts z for every key of rel and writes the encrypted
// zips, the encrypted delta objects (v2 keys) and then the bundle record.
func (p *Publisher) writeEncrypted(ctx context.Context, rel Release, entries []delta.Entry, z *builtZip, res *Result) (*manifest.Bundle, error) {
	sessions := make([]*e2e.Session, len(rel.Keys))
	zips := make([]*builtZip, len(rel.Keys))
	defer func() {
		for _, ez := range zips {
			if ez != nil {
				ez.remove()
			}
		}
	}()
	var digests []byte
	for i, k := range rel.Keys {
		s, err := k.seal()
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", k.ID(), err)
		}
		sessions[i] = s
		if zips[i], err = encryptZip(ctx, z, s, p.TempDir); err != nil {
			return nil, err
		}
		digests = append(digests, zips[i].sha256[:]...)
	}
	content := zips[0].sha256 // one key: the digest of the encrypted zip, as for an import
	if len(zips) > 1 {
		content = manifest.Sum(digests)
	}
	id := manifest.BundleID(rel.Version, content)
	rec := &manifest.Bundle{ID: id, Version: rel.Version, Created: p.now().UTC(), Size: z.size,
		SHA256: z.sha256, CRC32: z.crc32, MinUpdateVersion: rel.MinUpdateVersion, Link: rel.Link,
		Comment: rel.Comment, Fingerprint: rel.Fingerprint, Native: rel.Native}
	for i, k := range rel.Keys {
		e, err := p.putEncryptedZip(ctx, rel.App, id, k, sessions[i], zips[i], res)
		if err != nil {
			return nil, err
		}
		rec.Keys = append(rec.Keys, e)
	}
	if err := p.writeEncryptedDelta(ctx, rel, entries, rec, sessions, res); err != nil {
		return nil, err
	}
	raw, err := manifest.EncodeBundle(rec)
	if err != nil {
		return nil, err
	}
	if err := p.put(ctx, manifest.BundleRecordPath(rel.App, id), int64(len(raw)), bytesOpener(raw), res); err != nil {
		return nil, err
	}
	return rec, nil
}

// encryptZip writes z encrypted with s into a temporary file in dir.
func encryptZip(ctx context.Context, z *builtZip, s *e2e.Session, dir string) (*builtZip, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	src, err := z.open()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	f, err := os.CreateTemp(dir, "capstatic-enc-*")
	if err != nil {
		return nil, err
	}
	ez := &builtZip{path: f.Name()}
	h := manifest.NewHasher()
	if err := s.EncryptTo(io.MultiWriter(f, h), src); err != nil {
		f.Close()
		ez.remove()
		return nil, err
	}
	if err := f.Close(); err != nil {
		ez.remove()
		return nil, err
	}
	ez.size, ez.sha256 = h.Size(), h.Sum()
	return ez, nil
}

// putEncryptedZip uploads k's encrypted zip and returns k's record, with
// the wrapped checksums of the clear zip for a v2 key.
func (p *Publisher) putEncryptedZip(ctx context.Context, app string, id manifest.Digest, k Key, s *e2e.Session, ez *builtZip, res *Result) (manifest.Encryption, error) {
	path := manifest.EncryptedZipPath(app, id, k.Digest())
	if err := p.put(ctx, path, ez.size, func() (io.ReadCloser, error) { return ez.open() }, res); err != nil {
		return manifest.Encryption{}, err
	}
	e := manifest.Encryption{Scheme: k.Scheme, KeyID: k.ID(), SessionKey: s.SessionKey(),
		Zip: manifest.Object{Path: path, Size: ez.size, SHA256: ez.sha256}}
	return e, nil
}

// writeEncryptedDelta builds the delta set of rel (brotli per file as for a
// clear release, see [delta.Choose]) and, for every v2 key, encrypts each
// object with that key's session and uploads it; it fills the wrapped
// checksums of the clear zip and the key's Files in rec. v1 records get
// neither: legacy plugins take no manifest and a plain CRC32.
func (p *Publisher) writeEncryptedDelta(ctx context.Context, rel Release, entries []delta.Entry, rec *manifest.Bundle, sessions []*e2e.Session, res *Result) error {
	var v2 []int
	for i, k := range rel.Keys {
		if k.Scheme == manifest.SchemeV2 {
			v2 = append(v2, i)
		}
	}
	if len(v2) == 0 {
		return nil
	}
	// objs[i] maps a clear object path (what delta.Build names an object
	// by) to key i's encrypted copy.
	objs := make([]map[string]manifest.Object, len(rel.Keys))
	for _, i := range v2 {
		objs[i] = map[string]manifest.Object{}
	}
	opt := delta.Options{App: rel.App, Level: rel.Level}
	files, err := delta.Build(ctx, rel.Build, entries, opt, func(o delta.Object) error {
		for _, i := range v2 {
			ct := sessions[i].Encrypt(o.Data)
			// The session key is public (every device asking gets it),
			// so this name tells nothing the record does not.
			name := manifest.Sum([]byte("capstatic-file\x00" + sessions[i].SessionKey() + "\x00" + o.Path))
			path := manifest.EncryptedFilePath(rel.App, rec.ID, name)
			if err := p.put(ctx, path, int64(len(ct)), bytesOpener(ct), res); err != nil {
				return err
			}
			objs[i][o.Path] = manifest.Object{Path: path, Size: int64(len(ct)), SHA256: manifest.Sum(ct)}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, i := range v2 {
		if err := wrapRecord(&rec.Keys[i], rel.Keys[i].Private, rec.SHA256, files, objs[i]); err != nil {
			return fmt.Errorf("key %s: %w", rec.Keys[i].KeyID, err)
		}
	}
	return nil
}

// wrapRecord fills e's checksums of the clear zip sum and its Files from
// the clear delta records files, whose objects objs maps to ciphertext.
func wrapRecord(e *manifest.Encryption, priv *rsa.PrivateKey, sum manifest.Digest, files []manifest.File, objs map[string]manifest.Object) error {
	var err error
	if e.ChecksumV3, e.ChecksumV2, err = wrapBoth(priv, sum); err != nil {
		return err
	}
	type wrapped struct{ v3, v2 string }
	done := map[manifest.Digest]wrapped{} // the RSA operation is the slow part
	for _, f := range files {
		w, ok := done[f.SHA256]
		if !ok {
			if w.v3, w.v2, err = wrapBoth(priv, f.SHA256); err != nil {
				return err
			}
			done[f.SHA256] = w
		}
		obj, ok := objs[f.Object.Path]
		if !ok {
			return fmt.Errorf("file %s: no encrypted object", f.Name)
		}
		e.Files = append(e.Files, manifest.EncryptedFile{Name: f.Name, Size: f.Size, Brotli: f.Brotli,
			HashV3: w.v3, HashV2: w.v2, Object: obj})
	}
	return nil
}

// wrapBoth returns sum wrapped in the V3 and the V2 encoding (protocol §4.4).
func wrapBoth(priv *rsa.PrivateKey, sum manifest.Digest) (v3, v2 string, err error) {
	if v3, err = e2e.WrapChecksumV3(priv, sum.String()); err != nil {
		return "", "", err
	}
	if v2, err = e2e.WrapChecksumV2(priv, sum.String()); err != nil {
		return "", "", err
	}
	return v3, v2, nil
}
