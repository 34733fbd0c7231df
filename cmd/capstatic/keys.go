package main

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
	"github.com/capstatic/capstatic/publish/e2e"
)

// Key files, named as `capgo key create` names them (protocol §4.1, §4.2).
const (
	keyFileV2    = ".capgo_key_v2"     // v2 private key: the publisher's secret
	keyFileV2Pub = ".capgo_key_v2.pub" // v2 public key: in every app binary
	keyFileV1    = ".capgo_key"        // v1 private key: in every app binary
	keyFileV1Pub = ".capgo_key.pub"    // v1 public key: what the publisher encrypts to
)

// Private keys are never printed, logged or written to a tree, and no error
// of this file quotes key text: e2e's parse errors describe the PEM, never
// its content, and file errors name the file.

func runKeys(_ context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("want a subcommand: create")
	}
	switch args[0] {
	case "create":
		return keysCreate(e, args[1:])
	case "-h", "--help", "help":
		fmt.Fprint(e.stderr, "Usage: capstatic keys create [--legacy] [--force] [--dir DIR]\n")
		return pflag.ErrHelp
	}
	return usagef("unknown keys subcommand %q", args[0])
}

// keysCreate writes a new RSA-2048 key pair as `capgo key create` does,
// and the key the device holds into capacitor.config.json.
func keysCreate(e *env, args []string) error {
	for i, a := range args {
		if a == "--signing" || a == "--signing=true" {
			return signingKeyCreate(e, append(append([]string{}, args[:i]...), args[i+1:]...))
		}
	}
	var legacy, force, signing bool
	var dir string
	fs := newFlags(e, "keys create", "keys create [--legacy] [--force] [--dir DIR]\n\n"+
		"Writes .capgo_key_v2 (private, mode 0600: keep it secret, out of git) and .capgo_key_v2.pub,\n"+
		"and the public key into DIR/capacitor.config.json (plugins.CapacitorUpdater.publicKey).\n"+
		"--legacy writes .capgo_key and .capgo_key.pub for the v1 scheme of old plugins instead; v1 puts\n"+
		"the PRIVATE key into the app config, so it ships in every app binary.")
	fs.BoolVar(&legacy, "legacy", false, "make a v1 key pair for legacy plugins (the device holds the private key)")
	fs.BoolVar(&force, "force", false, "replace existing key files and the key in capacitor.config.json")
	fs.StringVar(&dir, "dir", ".", "project folder: where the key files and capacitor.config.json are")
	fs.BoolVar(&signing, "signing", false, "make the Ed25519 key that signs the tree's pointers instead (same as signing-key create; takes --out)")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	privName, pubName, cfgKey := keyFileV2, keyFileV2Pub, "publicKey"
	if legacy {
		privName, pubName, cfgKey = keyFileV1, keyFileV1Pub, "privateKey"
	}
	privPath, pubPath := filepath.Join(dir, privName), filepath.Join(dir, pubName)
	cfgPath := filepath.Join(dir, "capacitor.config.json")
	cfg, err := readUpdaterKey(cfgPath, cfgKey)
	if err != nil {
		return err
	}
	if !force {
		for _, p := range []string{privPath, pubPath} {
			if _, err := os.Lstat(p); err == nil {
				return fmt.Errorf("%s already exists; --force replaces it (devices holding the old key then refuse new bundles)", p)
			}
		}
		if cfg.value != "" {
			return fmt.Errorf("%s already has plugins.CapacitorUpdater.%s; --force replaces it", cfgPath, cfgKey)
		}
	}
	priv, err := e2e.GenerateKey()
	if err != nil {
		return err
	}
	privPEM, pubPEM := e2e.EncodePrivate(priv), e2e.EncodePublic(&priv.PublicKey)
	if err := writeFileAtomic(privPath, privPEM, 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(pubPath, pubPEM, 0o644); err != nil {
		return err
	}
	inConfig := pubPEM
	if legacy {
		inConfig = privPEM // v1: the device decrypts with the private key
	}
	wrote, err := cfg.set(string(inConfig))
	if err != nil {
		return err
	}
	reportKeys(e, legacy, privPath, pubPath, cfgPath, cfgKey, wrote, e2e.KeyID(&priv.PublicKey))
	return nil
}

func reportKeys(e *env, legacy bool, privPath, pubPath, cfgPath, cfgKey string, wrote bool, id string) {
	scheme := manifest.SchemeV2
	if legacy {
		scheme = manifest.SchemeV1
	}
	fmt.Fprintf(e.stdout, "created %s key pair: %s (private, mode 0600) and %s\nkey id: %s\n", scheme, privPath, pubPath, id)
	if wrote {
		fmt.Fprintf(e.stdout, "wrote plugins.CapacitorUpdater.%s into %s; rebuild the app so devices carry it\n", cfgKey, cfgPath)
	} else {
		fmt.Fprintf(e.stderr, "note: no %s: put the content of %s into plugins.CapacitorUpdater.%s of your Capacitor config\n",
			cfgPath, map[bool]string{false: pubPath, true: privPath}[legacy], cfgKey)
	}
	if legacy {
		fmt.Fprintf(e.stderr, "warning: v1 puts the PRIVATE key into the app config, so it ships inside every app binary:\n"+
			"anyone holding the app can decrypt its bundles. Use v1 only for plugins that cannot use v2.\n")
		fmt.Fprintf(e.stdout, "publish with: capstatic publish --encrypt-legacy (reads %s)\n", keyFileV1Pub)
	} else {
		fmt.Fprintf(e.stdout, "publish with: capstatic publish --encrypt (reads %s; keep it out of git)\n", keyFileV2)
	}
	fmt.Fprintf(e.stdout, "devices that send no key_id need the channel to record the key: capstatic channel set NAME --device-key %s:%s\n", scheme, id)
}

// writeFileAtomic writes b to path with mode perm through a temporary file
// in the same folder, so a reader never sees half a key.
func writeFileAtomic(path string, b []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".capstatic-tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return nil
}

// updaterKey is one string setting of plugins.CapacitorUpdater in a
// capacitor.config.json, to be replaced keeping every other setting and
// the order of keys.
type updaterKey struct {
	path, name, value string
	top               *jsonObject // nil: no config file
	mode              fs.FileMode
}

func readUpdaterKey(path, name string) (*updaterKey, error) {
	u := &updaterKey{path: path, name: name}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return u, nil
	}
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	u.mode = st.Mode().Perm()
	if u.top, err = parseObject(b); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	plugins, err := u.top.object("plugins")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	updater, err := plugins.object("CapacitorUpdater")
	if err != nil {
		return nil, fmt.Errorf("%s: plugins: %w", path, err)
	}
	if raw, ok := updater.vals[name]; ok {
		_ = json.Unmarshal(raw, &u.value) // a non-string is replaced like any value
		if u.value == "" && string(raw) != `""` && string(raw) != "null" {
			u.value = string(raw)
		}
	}
	return u, nil
}

// set writes value into the config, reporting false when there is no
// config file to write to.
func (u *updaterKey) set(value string) (bool, error) {
	if u.top == nil {
		return false, nil
	}
	plugins, _ := u.top.object("plugins") // checked by readUpdaterKey
	updater, _ := plugins.object("CapacitorUpdater")
	updater.set(u.name, jsonString(value))
	plugins.set("CapacitorUpdater", updater.encode())
	u.top.set("plugins", plugins.encode())
	var out bytes.Buffer
	if err := json.Indent(&out, u.top.encode(), "", "  "); err != nil {
		return false, err
	}
	out.WriteByte('\n')
	return true, writeFileAtomic(u.path, out.Bytes(), u.mode)
}

// jsonObject is a JSON object that keeps its keys in order.
type jsonObject struct {
	keys []string
	vals map[string]json.RawMessage
}

// parseObject parses a JSON object, keeping key order.
func parseObject(b []byte) (*jsonObject, error) {
	o := &jsonObject{vals: map[string]json.RawMessage{}}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		o.set(k, raw)
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return o, nil
}

// object returns the object under k, an empty one when k is absent.
func (o *jsonObject) object(k string) (*jsonObject, error) {
	raw, ok := o.vals[k]
	if !ok || string(raw) == "null" {
		return &jsonObject{vals: map[string]json.RawMessage{}}, nil
	}
	sub, err := parseObject(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k, err)
	}
	return sub, nil
}

func (o *jsonObject) set(k string, v json.RawMessage) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

// encode returns o as compact JSON.
func (o *jsonObject) encode() json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonString(k))
		b.WriteByte(':')
		json.Compact(&b, o.vals[k]) // valid: it was decoded
	}
	b.WriteByte('}')
	return b.Bytes()
}

// jsonString encodes s without HTML escaping.
func jsonString(s string) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// encryptFlags are the publish flags that choose the keys of an encrypted
// release.
type encryptFlags struct {
	encrypt, legacy             bool
	keyFile, keyData, legacyKey string
}

func (f *encryptFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&f.encrypt, "encrypt", false, "encrypt the bundle (v2) with the private key of --key, --key-data or ./"+keyFileV2+"; nothing clear is published")
	fs.StringVar(&f.keyFile, "key", "", "v2 private key file (PEM, as capgo key create or capstatic keys create write it); implies --encrypt")
	fs.StringVar(&f.keyData, "key-data", "", "v2 private key as PEM text, for CI secrets (literal \\n accepted); implies --encrypt")
	fs.BoolVar(&f.legacy, "encrypt-legacy", false, "also encrypt for legacy (v1) devices with the public key of --legacy-key or ./"+keyFileV1Pub)
	fs.StringVar(&f.legacyKey, "legacy-key", "", "v1 public key file (PEM); implies --encrypt-legacy")
}

// on reports whether the flags ask for encryption.
func (f *encryptFlags) on() bool {
	return f.encrypt || f.keyFile != "" || f.keyData != "" || f.legacy || f.legacyKey != ""
}

// keys loads the keys the flags name; none means a clear release.
func (f *encryptFlags) keys() ([]publish.Key, error) {
	var keys []publish.Key
	if f.encrypt || f.keyFile != "" || f.keyData != "" {
		priv, err := f.privateKey()
		if err != nil {
			return nil, err
		}
		keys = append(keys, publish.Key{Scheme: manifest.SchemeV2, Private: priv})
	}
	if f.legacy || f.legacyKey != "" {
		p := f.legacyKey
		if p == "" {
			p = keyFileV1Pub
		}
		pub, err := readPublicKey(p)
		if err != nil {
			return nil, fmt.Errorf("legacy key: %w", err)
		}
		keys = append(keys, publish.Key{Scheme: manifest.SchemeV1, Public: pub})
	}
	return keys, nil
}

func (f *encryptFlags) privateKey() (*rsa.PrivateKey, error) {
	if f.keyFile != "" && f.keyData != "" {
		return nil, usagef("give --key or --key-data, not both")
	}
	if f.keyData != "" {
		data := f.keyData
		if !strings.Contains(data, "\n") {
			data = strings.ReplaceAll(data, `\n`, "\n") // a secret pasted from JSON
		}
		priv, err := e2e.ParsePrivate([]byte(data))
		if err != nil {
			return nil, fmt.Errorf("--key-data: %w", err)
		}
		return priv, nil
	}
	p := f.keyFile
	if p == "" {
		p = keyFileV2
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("v2 private key: %w", err)
	}
	priv, err := e2e.ParsePrivate(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return priv, nil
}

// readPublicKey reads a public key PEM file; a private key file is refused
// with a hint, since the command that reads it should not hold it.
func readPublicKey(path string) (*rsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pub, err := e2e.ParsePublic(b)
	if err != nil {
		if _, perr := e2e.ParsePrivate(b); perr == nil {
			return nil, fmt.Errorf("%s holds a private key; give the public key (.pub)", path)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pub, nil
}

// importFlags are the publish flags that publish Capgo artefacts as they
// are instead of a build folder.
type importFlags struct {
	zip, encZip, checksum, sessionKey, keyID, publicKey string
}

func (f *importFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.zip, "zip", "", "publish this zip (from capgo bundle zip) byte for byte instead of a build folder")
	fs.StringVar(&f.encZip, "import-zip", "", "publish this encrypted zip (from capgo bundle encrypt) as it is; needs --checksum and --session-key")
	fs.StringVar(&f.checksum, "checksum", "", "with --import-zip: the checksum capgo bundle encrypt printed (V3 hex or V2 base64)")
	fs.StringVar(&f.sessionKey, "session-key", "", "with --import-zip: the ivSessionKey capgo bundle encrypt printed")
	fs.StringVar(&f.keyID, "key-id", "", "with --import-zip: key_id of the key (default: from --public-key or the publicKey of ./capacitor.config.json)")
	fs.StringVar(&f.publicKey, "public-key", "", "with --import-zip: v2 public key file; the zip is then decrypted and checked before publishing")
}

// active reports whether an artefact is imported.
func (f *importFlags) active() bool { return f.zip != "" || f.encZip != "" }

// check refuses contradictory flags.
func (f *importFlags) check(enc *encryptFlags, args []string) error {
	switch {
	case f.zip != "" && f.encZip != "":
		return usagef("give --zip or --import-zip, not both")
	case f.active() && len(args) > 0:
		return usagef("give a build folder or --zip/--import-zip, not both")
	case f.encZip == "" && (f.checksum != "" || f.sessionKey != "" || f.keyID != "" || f.publicKey != ""):
		return usagef("--checksum, --session-key, --key-id and --public-key go with --import-zip")
	case f.encZip != "" && (f.checksum == "" || f.sessionKey == ""):
		return usagef("--import-zip needs --checksum and --session-key as capgo bundle encrypt printed them")
	case f.encZip != "" && enc.on():
		return usagef("--import-zip publishes an encrypted zip as it is; the encryption flags do not apply")
	}
	return nil
}

// publish imports the artefact with rel's metadata.
func (f *importFlags) publish(ctx context.Context, pub *publish.Publisher, rel publish.Release) (*publish.Result, error) {
	if f.zip != "" {
		return pub.ImportZip(ctx, rel, f.zip)
	}
	in := publish.EncryptedZip{Path: f.encZip, Checksum: f.checksum, SessionKey: f.sessionKey, KeyID: f.keyID}
	switch {
	case f.publicKey != "":
		k, err := readPublicKey(f.publicKey)
		if err != nil {
			return nil, err
		}
		in.Public = k
	case f.keyID == "":
		cfg, err := readCapConfig(".")
		if err != nil {
			return nil, err
		}
		if cfg.Plugins.CapacitorUpdater.PublicKey == "" {
			return nil, usagef("--import-zip needs --key-id, --public-key or a publicKey in ./capacitor.config.json")
		}
		k, err := e2e.ParsePublic([]byte(cfg.Plugins.CapacitorUpdater.PublicKey))
		if err != nil {
			return nil, fmt.Errorf("publicKey of capacitor.config.json: %w", err)
		}
		in.Public = k
	}
	return pub.ImportEncrypted(ctx, rel, in)
}
