package publish

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/andybalholm/brotli"

	"github.com/capstatic/capstatic/delta"
	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish/e2e"
)

// This file publishes artefacts of Capgo's CLI as they are (DESIGN.md,
// Publisher): a clear zip from `capgo bundle zip` ([Publisher.ImportZip])
// and an encrypted one from `capgo bundle encrypt` with the checksum and
// ivSessionKey it printed ([Publisher.ImportEncrypted]). It also opens and
// verifies published encrypted bundles the way a device does
// ([OpenEncrypted]).

// ErrChecksum is returned, wrapped, when a decrypted zip or delta file does
// not match the checksum its record or its importer gave for it.
var ErrChecksum = errors.New("checksum does not match")

// EncryptedZip is a zip made by `capgo bundle encrypt`, with what the
// command printed.
type EncryptedZip struct {
	// Path is the encrypted zip file.
	Path string
	// Checksum is the printed checksum: the wrapped SHA-256 of the clear
	// zip, 512 hex characters ("V3") or base64 ("V2"), protocol §4.4.
	Checksum string
	// SessionKey is the printed ivSessionKey.
	SessionKey string
	// KeyID is the key_id of the v2 key the zip was encrypted with; ""
	// means [e2e.KeyID] of Public.
	KeyID string
	// Public is the v2 public key devices hold, or nil. With it the import
	// decrypts the zip and checks it against Checksum and its contents
	// (index.html at the root), and records the clear zip's size, SHA-256
	// and CRC32; without it those stay unknown and nothing is checked.
	Public *rsa.PublicKey
}

// ImportEncrypted publishes in as bundle rel.Version of rel.App: one v2
// record with the given session key and checksum, the encrypted zip stored
// unchanged, no delta files (wrapping their hashes needs the private key).
// The checksum is stored in the one encoding it has; the other stays empty,
// so a V3 checksum suits plugins ≥ x.30 (and 8+), a V2 one older ones. The
// bundle id is [manifest.BundleID] of the version and the encrypted zip's
// digest, so importing the same file again is a no-op.
// rel.Build and rel.Keys must be empty.
func (p *Publisher) ImportEncrypted(ctx context.Context, rel Release, in EncryptedZip) (*Result, error) {
	if err := checkRelease(rel); err != nil {
		return nil, err
	}
	if rel.Build != nil || len(rel.Keys) > 0 {
		return nil, errors.New("import encrypted: the release must have no build and no keys")
	}
	rec, keyDigest, err := importRecord(rel, in)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(in.Path)
	if err != nil {
		return nil, err
	}
	if in.Public != nil {
		plain, err := openZip(in.Public, nil, in.SessionKey, data)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", in.Path, err)
		}
		if err := checkClear(in.Public, plain, rec.Keys[0].ChecksumV3, rec.Keys[0].ChecksumV2); err != nil {
			return nil, fmt.Errorf("import %s: %w", in.Path, err)
		}
		if _, _, err := scanZip(plain); err != nil {
			return nil, fmt.Errorf("import %s: decrypted zip: %w", in.Path, err)
		}
		rec.Size, rec.SHA256 = int64(len(plain)), manifest.Sum(plain)
		rec.CRC32 = fmt.Sprintf("%08x", crc32.ChecksumIEEE(plain))
	}
	rec.ID = manifest.BundleID(rel.Version, manifest.Sum(data))
	rec.Created = p.now().UTC()
	zipKey := manifest.EncryptedZipPath(rel.App, rec.ID, keyDigest)
	rec.Keys[0].Zip = manifest.Object{Path: zipKey, Size: int64(len(data)), SHA256: manifest.Sum(data)}
	return p.importBundle(ctx, rel, rec, func(res *Result) error {
		return p.put(ctx, zipKey, int64(len(data)), bytesOpener(data), res)
	})
}

// importRecord checks in and returns the bundle record it describes, with
// its one v2 record, and the digest naming its encrypted zip: that of the
// public key ([Key.Digest]) when known, else of the key id.
func importRecord(rel Release, in EncryptedZip) (*manifest.Bundle, manifest.Digest, error) {
	e := manifest.Encryption{Scheme: manifest.SchemeV2, KeyID: in.KeyID, SessionKey: in.SessionKey}
	switch {
	case len(in.Checksum) == 512 && isHex(in.Checksum):
		e.ChecksumV3 = in.Checksum
	case isBase64Len(in.Checksum, 256):
		e.ChecksumV2 = in.Checksum
	default:
		return nil, manifest.Digest{}, errors.New("import encrypted: checksum is neither V3 (512 lowercase hex characters) nor V2 (base64 of 256 bytes), as `capgo bundle encrypt` prints them")
	}
	if err := checkSessionKey(in.SessionKey); err != nil {
		return nil, manifest.Digest{}, fmt.Errorf("import encrypted: %w", err)
	}
	digest := manifest.Sum([]byte("capstatic-key-id\x00" + in.KeyID))
	if pub := in.Public; pub != nil {
		if pub.N == nil || pub.N.BitLen() != e2e.KeyBits {
			return nil, manifest.Digest{}, fmt.Errorf("import encrypted: public key: %w", e2e.ErrKeySize)
		}
		if id := e2e.KeyID(pub); in.KeyID != "" && in.KeyID != id {
			return nil, manifest.Digest{}, fmt.Errorf("import encrypted: key id %q is not that of the public key (%s)", in.KeyID, id)
		}
		e.KeyID, digest = e2e.KeyID(pub), keyDigest(pub)
	}
	if !validKeyID(e.KeyID) {
		return nil, manifest.Digest{}, fmt.Errorf("import encrypted: key id %q is not 20 base64 characters; give the key id or the public key", e.KeyID)
	}
	rec := &manifest.Bundle{Version: rel.Version, MinUpdateVersion: rel.MinUpdateVersion, Link: rel.Link,
		Comment: rel.Comment, Fingerprint: rel.Fingerprint, Native: rel.Native, Keys: []manifest.Encryption{e}}
	return rec, digest, nil
}

// ImportZip publishes the clear zip at path, as made by `capgo bundle zip`,
// with its exact bytes: devices get that zip and its SHA-256 (which is the
// checksum the CLI printed). The delta files are built from the zip's
// contents after the plugin's flattening rule (protocol §7: a zip whose
// root holds one folder and nothing else is that folder). With rel.Keys the
// zip is encrypted instead, as by [Publisher.Publish]. rel.Build must be
// nil.
func (p *Publisher) ImportZip(ctx context.Context, rel Release, path string) (*Result, error) {
	if err := checkRelease(rel); err != nil {
		return nil, err
	}
	if rel.Build != nil {
		return nil, errors.New("import zip: the release must have no build")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	z, err := hashFile(f)
	if err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(f, z.size)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	root, entries, err := scanRoot(zr)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	rel.Build = root
	head, err := Load(ctx, p.Store, rel.App)
	if err != nil && !errors.Is(err, ErrNoApp) {
		return nil, err
	}
	if len(rel.Keys) > 0 {
		return p.publishEncrypted(ctx, rel, head, entries, z)
	}
	id := manifest.BundleID(rel.Version, z.sha256)
	res := &Result{}
	if prev, ok := head.State.Versions[rel.Version]; ok {
		if prev != id {
			return nil, fmt.Errorf("%s %s: %w", rel.App, rel.Version, ErrVersionExists)
		}
		res.Unchanged = true
	}
	rec, err := p.writeBundle(ctx, rel, head.State, entries, z, id, res)
	if err != nil {
		return nil, err
	}
	return p.finish(ctx, rel, head, rec, res)
}

// hashFile describes the zip file f (never removed: it is the caller's).
func hashFile(f *os.File) (*builtZip, error) {
	h, crc := manifest.NewHasher(), crc32.NewIEEE()
	if _, err := io.Copy(io.MultiWriter(h, crc), f); err != nil {
		return nil, err
	}
	return &builtZip{path: f.Name(), size: h.Size(), sha256: h.Sum(), crc32: fmt.Sprintf("%08x", crc.Sum32())}, nil
}

// importBundle writes rec (whose ID is set) through write and then its
// record, and assigns it, unless rel.Version already has that id
// (Result.Unchanged) or another one ([ErrVersionExists]).
func (p *Publisher) importBundle(ctx context.Context, rel Release, rec *manifest.Bundle, write func(*Result) error) (*Result, error) {
	head, err := Load(ctx, p.Store, rel.App)
	if err != nil && !errors.Is(err, ErrNoApp) {
		return nil, err
	}
	if err := checkNative(head.State, rel); err != nil { // native.go
		return nil, err
	}
	res := &Result{}
	if prev, ok := head.State.Versions[rel.Version]; ok {
		if prev != rec.ID {
			return nil, fmt.Errorf("%s %s: %w", rel.App, rel.Version, ErrVersionExists)
		}
		stored, err := p.record(ctx, rel.App, head.State, prev)
		if err != nil {
			return nil, err
		}
		res.Unchanged = true
		return p.finish(ctx, rel, head, stored, res)
	}
	if err := write(res); err != nil {
		return nil, err
	}
	raw, err := manifest.EncodeBundle(rec)
	if err != nil {
		return nil, err
	}
	if err := p.put(ctx, manifest.BundleRecordPath(rel.App, rec.ID), int64(len(raw)), bytesOpener(raw), res); err != nil {
		return nil, err
	}
	return p.finish(ctx, rel, head, rec, res)
}

// BundleRoot returns the folder of zr that a device installs (protocol §7).
// Android flattens when the root holds one entry other than index.html,
// ignoring names that start with "." or "__MACOSX"; iOS when the root holds
// exactly one item, a folder, and no index.html. BundleRoot flattens only
// where both do: one item, a folder, not hidden. A zip the two platforms
// would install differently then lacks index.html at its root and fails
// the scan that follows.
func BundleRoot(zr *zip.Reader) (fs.FS, error) {
	ents, err := fs.ReadDir(zr, ".")
	if err != nil {
		return nil, err
	}
	if len(ents) == 1 && ents[0].IsDir() {
		name := ents[0].Name()
		if name != delta.IndexName && !strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "__MACOSX") {
			return fs.Sub(zr, name)
		}
	}
	return zr, nil
}

// scanRoot returns the installed root of zr and its files ([delta.Scan]).
func scanRoot(zr *zip.Reader) (fs.FS, []delta.Entry, error) {
	root, err := BundleRoot(zr)
	if err != nil {
		return nil, nil, err
	}
	entries, err := delta.Scan(root)
	if err != nil {
		return nil, nil, err
	}
	return root, entries, nil
}

// scanZip is scanRoot for a zip in memory.
func scanZip(b []byte) (fs.FS, []delta.Entry, error) {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, nil, err
	}
	return scanRoot(zr)
}

// LoadBundle returns the record of version of app in store's current
// state: from the state when it holds it, else from the stored record.
// An unknown version is an error wrapping [fs.ErrNotExist].
func LoadBundle(ctx context.Context, store Store, app, version string) (*manifest.Bundle, error) {
	head, err := Load(ctx, store, app)
	if err != nil {
		return nil, err
	}
	id, ok := head.State.Versions[version]
	if !ok {
		return nil, fmt.Errorf("%s has no version %s: %w", app, version, fs.ErrNotExist)
	}
	return (&Publisher{Store: store}).record(ctx, app, head.State, id)
}

// OpenKeys are the keys [OpenEncrypted] may use.
type OpenKeys struct {
	// V2 is the public key v2 devices hold.
	V2 *rsa.PublicKey
	// V1 is the private key legacy devices hold.
	V1 *rsa.PrivateKey
}

// Opened is what [OpenEncrypted] decrypted and checked.
type Opened struct {
	// Zip is the clear zip.
	Zip []byte
	// ChecksumV3 and ChecksumV2 report which wrapped checksums the record
	// has (each was checked); v1 records have neither and are checked
	// against the record's CRC32.
	ChecksumV3, ChecksumV2 bool
	// Files is the number of delta files checked.
	Files int
}

// OpenEncrypted does what a device does with record e of bundle rec read
// from store, and more: it reads the encrypted zip (checking its length and
// digest), opens the session key with keys.V2 or keys.V1, decrypts the zip,
// and checks it against every checksum the records give (V3, V2, CRC32,
// SHA-256, size). For a v2 record it also reads, decrypts, un-brotlis and
// checks every delta file against its wrapped hashes and against the same
// file in the zip. Errors wrap [ErrChecksum], [manifest.ErrDigestMismatch],
// [manifest.ErrSizeMismatch] or [e2e.ErrDecryption].
func OpenEncrypted(ctx context.Context, store Store, rec *manifest.Bundle, e *manifest.Encryption, keys OpenKeys) (*Opened, error) {
	data, err := readObject(ctx, store, e.Zip)
	if err != nil {
		return nil, err
	}
	var v2 *rsa.PublicKey
	var v1 *rsa.PrivateKey
	switch {
	case e.Scheme == manifest.SchemeV2 && keys.V2 != nil:
		v2 = keys.V2
	case e.Scheme == manifest.SchemeV1 && keys.V1 != nil:
		v1 = keys.V1
	default:
		return nil, fmt.Errorf("%s record %s: no key to open it", e.Scheme, e.KeyID)
	}
	plain, err := openZip(v2, v1, e.SessionKey, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Zip.Path, err)
	}
	out := &Opened{Zip: plain, ChecksumV3: e.ChecksumV3 != "", ChecksumV2: e.ChecksumV2 != ""}
	if err := checkOpened(rec, e, v2, plain); err != nil {
		return nil, fmt.Errorf("%s: %w", e.Zip.Path, err)
	}
	if len(e.Files) == 0 {
		return out, nil
	}
	root, _, err := scanZip(plain)
	if err != nil {
		return nil, fmt.Errorf("%s: decrypted zip: %w", e.Zip.Path, err)
	}
	key, iv, _ := e2e.OpenSessionKey(v2, e.SessionKey) // succeeded in openZip
	for _, f := range e.Files {
		if err := checkFile(ctx, store, v2, key, iv, f, root); err != nil {
			return nil, fmt.Errorf("delta file %s: %w", f.Name, err)
		}
		out.Files++
	}
	return out, nil
}

// checkOpened checks the clear zip plain against rec and e.
func checkOpened(rec *manifest.Bundle, e *manifest.Encryption, v2 *rsa.PublicKey, plain []byte) error {
	switch {
	case !rec.SHA256.IsZero() && manifest.Sum(plain) != rec.SHA256:
		return fmt.Errorf("decrypted zip: %w: sha256 is not the record's", ErrChecksum)
	case rec.Size != 0 && int64(len(plain)) != rec.Size:
		return fmt.Errorf("decrypted zip: %w: %d bytes, record says %d", manifest.ErrSizeMismatch, len(plain), rec.Size)
	case rec.CRC32 != "" && e2e.CRC32Hex(plain) != rec.CRC32:
		return fmt.Errorf("decrypted zip: %w: crc32 is not the record's", ErrChecksum)
	case e.Scheme == manifest.SchemeV1:
		if rec.CRC32 == "" {
			return errors.New("v1 record without crc32")
		}
		return nil
	}
	return checkClear(v2, plain, e.ChecksumV3, e.ChecksumV2)
}

// checkClear checks that the wrapped checksums v3 and v2 (empty: absent,
// but not both) unwrap with pub to the SHA-256 of plain.
func checkClear(pub *rsa.PublicKey, plain []byte, v3, v2 string) error {
	if v3 == "" && v2 == "" {
		return errors.New("no checksum to verify")
	}
	sum := sha256.Sum256(plain)
	want := hex.EncodeToString(sum[:])
	for _, c := range []string{v3, v2} {
		if c == "" {
			continue
		}
		got, err := e2e.UnwrapChecksum(pub, c)
		if err != nil {
			return err
		}
		// A V2 value unwraps to base64 of 48 bytes, which is the hex
		// SHA-256 again (see e2e.WrapChecksumV2).
		if got != want {
			return fmt.Errorf("%w: checksum is of other content", ErrChecksum)
		}
	}
	return nil
}

// checkFile reads, decrypts and checks delta file f against its wrapped
// hashes and the same file in the zip's root.
func checkFile(ctx context.Context, store Store, pub *rsa.PublicKey, key, iv []byte, f manifest.EncryptedFile, root fs.FS) error {
	ct, err := readObject(ctx, store, f.Object)
	if err != nil {
		return err
	}
	data, err := e2e.Decrypt(key, iv, ct)
	if err != nil {
		return err
	}
	if f.Brotli {
		if data, err = manifest.ReadAll(brotli.NewReader(bytes.NewReader(data)), f.Size); err != nil {
			return fmt.Errorf("brotli: %w", err)
		}
	}
	if int64(len(data)) != f.Size {
		return fmt.Errorf("%w: %d bytes, record says %d", manifest.ErrSizeMismatch, len(data), f.Size)
	}
	if err := checkClear(pub, data, f.HashV3, f.HashV2); err != nil {
		return err
	}
	inZip, err := fs.ReadFile(root, f.Name)
	if err != nil {
		return fmt.Errorf("not in the zip: %w", err)
	}
	if !bytes.Equal(inZip, data) {
		return fmt.Errorf("%w: differs from the zip's copy", ErrChecksum)
	}
	return nil
}

// readObject reads o from store, checking its length and digest.
func readObject(ctx context.Context, store Store, o manifest.Object) ([]byte, error) {
	b, err := readAll(ctx, store, o.Path, o.Size)
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != o.Size {
		return nil, fmt.Errorf("%s: %w", o.Path, manifest.ErrSizeMismatch)
	}
	if manifest.Sum(b) != o.SHA256 {
		return nil, fmt.Errorf("%s: %w", o.Path, manifest.ErrDigestMismatch)
	}
	return b, nil
}

// openZip decrypts data with the session key opened by v2 (public) or,
// when v2 is nil, v1 (private).
func openZip(v2 *rsa.PublicKey, v1 *rsa.PrivateKey, sessionKey string, data []byte) ([]byte, error) {
	var key, iv []byte
	var err error
	switch {
	case v2 != nil:
		key, iv, err = e2e.OpenSessionKey(v2, sessionKey)
	case v1 != nil:
		key, iv, err = e2e.OpenSessionKeyV1(v1, sessionKey)
	default:
		return nil, errors.New("no key to open the session key")
	}
	if err != nil {
		return nil, err
	}
	return e2e.Decrypt(key, iv, data)
}

// checkSessionKey checks the form the plugin checks (protocol §4.2):
// base64(16-byte IV) ":" base64(256-byte wrapped key). Its errors never
// quote the value.
func checkSessionKey(s string) error {
	ivPart, keyPart, ok := strings.Cut(s, ":")
	if !ok || !isBase64Len(ivPart, 16) || !isBase64Len(keyPart, e2e.KeyBits/8) {
		return errors.New(`session key is not base64(16-byte iv) ":" base64(256-byte wrapped key)`)
	}
	return nil
}

// validKeyID reports whether id has the form of a plugin key_id: the first
// 20 characters of a base64 body.
func validKeyID(id string) bool {
	if len(id) != 20 {
		return false
	}
	for _, r := range id {
		if !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '+' || r == '/') {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
			return false
		}
	}
	return s != ""
}

func isBase64Len(s string, n int) bool {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == n
}
