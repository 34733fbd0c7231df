package main

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
	"github.com/capstatic/capstatic/publish/e2e"
)

type decryptOpts struct {
	store                storeFlags
	app, version, keyID  string
	sessionKey, checksum string
	key, legacyKey, out  string
}

// runDecrypt decrypts an encrypted bundle as a device would and checks it:
// a zip file with its session key (ours or `capgo bundle encrypt`'s), or a
// version published in a tree, with every checksum and delta file of its
// record.
func runDecrypt(ctx context.Context, e *env, args []string) error {
	var o decryptOpts
	fs := newFlags(e, "decrypt", "decrypt BUNDLE_ZIP --session-key S [--checksum C] [--key PUB] [--out FILE]\n"+
		"       capstatic decrypt --store TREE --app ID --version V [--key PUB | --legacy-key PRIV] [--key-id ID] [--out FILE]\n\n"+
		"Decrypts with the v2 public key (--key, else ./.capgo_key_v2.pub, else the publicKey of\n"+
		"./capacitor.config.json; a private key file also works) or, for v1, the legacy private key,\n"+
		"checks the checksum and prints \"Checksum matches\".")
	o.store.add(fs)
	fs.StringVar(&o.app, "app", "", "with --store: app id (default: appId of ./capacitor.config.json)")
	fs.StringVar(&o.version, "version", "", "with --store: the published version to check")
	fs.StringVar(&o.keyID, "key-id", "", "with --store: the encryption record to open (default: that of the key given)")
	fs.StringVar(&o.sessionKey, "session-key", "", "the bundle's session key (ivSessionKey)")
	fs.StringVar(&o.checksum, "checksum", "", "the encrypted checksum (V3 or V2), or the CRC32 of a v1 bundle")
	fs.StringVar(&o.key, "key", "", "v2 public key file (default ./"+keyFileV2Pub+" or the config's publicKey)")
	fs.StringVar(&o.legacyKey, "legacy-key", "", "v1 private key file: decrypt a v1 bundle")
	fs.StringVar(&o.out, "out", "", "write the clear zip here (default for a file: BUNDLE_ZIP_decrypted.zip)")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if o.store.url != "" {
		if fs.NArg() > 0 || o.sessionKey != "" || o.checksum != "" {
			return usagef("--store reads the session key and checksums from the tree: give no zip, --session-key or --checksum")
		}
		return o.stored(ctx, e)
	}
	if fs.NArg() != 1 || o.sessionKey == "" {
		return usagef("want one BUNDLE_ZIP and --session-key (or --store, --app and --version)")
	}
	return o.file(e, fs.Arg(0))
}

// file decrypts one zip file.
func (o *decryptOpts) file(e *env, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var key, iv []byte
	var pub *rsa.PublicKey
	if o.legacyKey != "" {
		priv, err := readPrivateKey(o.legacyKey)
		if err != nil {
			return err
		}
		key, iv, err = e2e.OpenSessionKeyV1(priv, o.sessionKey)
		if err != nil {
			return err
		}
	} else {
		if pub, err = o.publicKey(); err != nil {
			return err
		}
		if key, iv, err = e2e.OpenSessionKey(pub, o.sessionKey); err != nil {
			return fmt.Errorf("%w (is this the key the bundle was encrypted with?)", err)
		}
	}
	plain, err := e2e.Decrypt(key, iv, data)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(plain)
	if o.checksum != "" {
		if err := checkChecksum(pub, o.checksum, plain); err != nil {
			return err
		}
	}
	out := o.out
	if out == "" {
		out = path + "_decrypted.zip"
	}
	if err := os.WriteFile(out, plain, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "decrypted %s to %s: %d bytes, sha256 %s, crc32 %s\n", path, out, len(plain), hex.EncodeToString(sum[:]), e2e.CRC32Hex(plain))
	if o.checksum != "" {
		fmt.Fprintln(e.stdout, "Checksum matches")
	} else {
		fmt.Fprintln(e.stdout, "no --checksum given: nothing verified")
	}
	return nil
}

// checkChecksum checks c against plain: a wrapped V3/V2 checksum with pub,
// or a plain CRC32 for v1 (pub nil).
func checkChecksum(pub *rsa.PublicKey, c string, plain []byte) error {
	if pub == nil {
		if got := e2e.CRC32Hex(plain); !strings.EqualFold(got, c) {
			return fmt.Errorf("%w: crc32 of the decrypted zip is %s", publish.ErrChecksum, got)
		}
		return nil
	}
	got, err := e2e.UnwrapChecksum(pub, c)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(plain)
	if want := hex.EncodeToString(sum[:]); got != want {
		return fmt.Errorf("%w: the decrypted zip has sha256 %s, the checksum holds %s", publish.ErrChecksum, want, got)
	}
	return nil
}

// stored opens and checks a published version.
func (o *decryptOpts) stored(ctx context.Context, e *env) error {
	if o.app == "" {
		cfg, err := readCapConfig(".")
		if err != nil {
			return err
		}
		o.app = cfg.AppID
	}
	if o.app == "" || o.version == "" {
		return usagef("--store needs --app and --version")
	}
	store, err := o.store.open(ctx, e)
	if err != nil {
		return err
	}
	rec, err := publish.LoadBundle(ctx, store, o.app, o.version)
	if err != nil {
		return err
	}
	if !rec.Encrypted() {
		return fmt.Errorf("%s %s is not encrypted", o.app, o.version)
	}
	var keys publish.OpenKeys
	scheme, id := manifest.SchemeV2, o.keyID
	if o.legacyKey != "" {
		if keys.V1, err = readPrivateKey(o.legacyKey); err != nil {
			return err
		}
		scheme = manifest.SchemeV1
		if id == "" {
			id = e2e.KeyID(&keys.V1.PublicKey)
		}
	} else {
		if keys.V2, err = o.publicKey(); err != nil {
			return err
		}
		if id == "" {
			id = e2e.KeyID(keys.V2)
		}
	}
	k := rec.Key(scheme, id)
	if k == nil {
		return fmt.Errorf("%s %s has no %s record for key id %s (it has: %s)", o.app, o.version, scheme, id, recordList(rec))
	}
	opened, err := publish.OpenEncrypted(ctx, store, rec, k, keys)
	if err != nil {
		return err
	}
	if o.out != "" {
		if err := os.WriteFile(o.out, opened.Zip, 0o644); err != nil {
			return err
		}
	}
	return printOpened(e, o, rec, k, opened)
}

func printOpened(e *env, o *decryptOpts, rec *manifest.Bundle, k *manifest.Encryption, opened *publish.Opened) error {
	fmt.Fprintf(e.stdout, "%s %s (bundle %s), %s key %s: %d bytes decrypt to a %d-byte zip, sha256 %s\n",
		o.app, rec.Version, rec.ID.Short(), k.Scheme, k.KeyID, k.Zip.Size, len(opened.Zip), manifest.Sum(opened.Zip))
	var what []string
	if opened.ChecksumV3 {
		what = append(what, "V3")
	}
	if opened.ChecksumV2 {
		what = append(what, "V2")
	}
	if k.Scheme == manifest.SchemeV1 {
		what = append(what, "CRC32")
	}
	fmt.Fprintf(e.stdout, "Checksum matches (%s)\n", strings.Join(what, ", "))
	if opened.Files > 0 {
		fmt.Fprintf(e.stdout, "%d delta files decrypt and match their hashes and the zip\n", opened.Files)
	}
	if o.out != "" {
		fmt.Fprintf(e.stdout, "wrote the clear zip to %s\n", o.out)
	}
	return nil
}

func recordList(rec *manifest.Bundle) string {
	var s []string
	for _, k := range rec.Keys {
		s = append(s, k.Scheme+":"+k.KeyID)
	}
	return strings.Join(s, ", ")
}

// publicKey returns the v2 public key: --key (a public key, or a private
// key whose public half is taken), ./.capgo_key_v2.pub, or the publicKey of
// ./capacitor.config.json.
func (o *decryptOpts) publicKey() (*rsa.PublicKey, error) {
	if o.key != "" {
		b, err := os.ReadFile(o.key)
		if err != nil {
			return nil, err
		}
		if pub, err := e2e.ParsePublic(b); err == nil {
			return pub, nil
		}
		priv, err := e2e.ParsePrivate(b)
		if err != nil {
			return nil, fmt.Errorf("%s: neither a public nor a private rsa key: %w", o.key, err)
		}
		return &priv.PublicKey, nil
	}
	if _, err := os.Stat(keyFileV2Pub); err == nil {
		return readPublicKey(keyFileV2Pub)
	}
	cfg, err := readCapConfig(".")
	if err != nil {
		return nil, err
	}
	if cfg.Plugins.CapacitorUpdater.PublicKey == "" {
		return nil, usagef("no public key: give --key, or run where %s or a capacitor.config.json with publicKey is", keyFileV2Pub)
	}
	pub, err := e2e.ParsePublic([]byte(cfg.Plugins.CapacitorUpdater.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("publicKey of capacitor.config.json: %w", err)
	}
	return pub, nil
}

// readPrivateKey reads a private key PEM file.
func readPrivateKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	priv, err := e2e.ParsePrivate(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return priv, nil
}
