package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
	"github.com/capstatic/capstatic/resolver"
)

// defaultSigningTTL is how long a signed pointer stays valid unless
// --signing-ttl (or resign --ttl) says otherwise. A resolver given
// --signing-pub refuses a pointer past its expiry, so an app that is not
// published for longer needs "capstatic resign" on a schedule.
const defaultSigningTTL = 30 * 24 * time.Hour

// PEM block types of signing key files.
const (
	pemPrivate = "PRIVATE KEY" // PKCS #8
	pemPublic  = "PUBLIC KEY"  // PKIX
)

// runSigningKeys runs "capstatic signing-key create|id". The Ed25519
// signing key signs app pointers; it has nothing to do with the RSA keys
// of bundle encryption ("capstatic keys").
func runSigningKeys(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("want a subcommand: create or id")
	}
	switch args[0] {
	case "create":
		return signingKeyCreate(e, args[1:])
	case "id":
		return signingKeyID(e, args[1:])
	}
	return usagef("unknown signing-key subcommand %q (want create or id)", args[0])
}

// signingKeyCreate writes a new Ed25519 key pair: the private key to
// --out (PEM PKCS #8, mode 0600) and the public key to --out.pub (PEM
// PKIX). It refuses to overwrite either file without --force.
func signingKeyCreate(e *env, args []string) error {
	fs := newFlags(e, "signing-key create", "signing-key create [--out FILE] [--force] [--json]")
	out := fs.String("out", "capstatic-signing.key", "private key file; the public key is written to FILE.pub")
	force := fs.Bool("force", false, "overwrite existing key files")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	pubFile := *out + ".pub"
	if err := writeKeyFile(*out, pemPrivate, der, 0o600, *force); err != nil {
		return err
	}
	if err := writeKeyFile(pubFile, pemPublic, pubDER, 0o644, *force); err != nil {
		return err
	}
	id := manifest.SigningKeyID(pub)
	if *asJSON {
		return json.NewEncoder(e.stdout).Encode(map[string]any{"type": "signing_key", "key_id": id,
			"private": *out, "public": pubFile})
	}
	fmt.Fprintf(e.stdout, "created signing key %s\n  private: %s (secret: give it to publish --signing-key, e.g. from a CI secret)\n"+
		"  public:  %s (give it to serve --signing-pub)\n", id, *out, pubFile)
	return nil
}

func writeKeyFile(name, typ string, der []byte, perm os.FileMode, force bool) error {
	flag := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flag = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(name, flag, perm)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists (use --force to replace it)", name)
	}
	if err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil { // an existing file keeps its mode otherwise
		f.Close()
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: typ, Bytes: der}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// signingKeyID prints the key id (as in a pointer's sig_key) of each key
// file given, public or private.
func signingKeyID(e *env, args []string) error {
	fs := newFlags(e, "signing-key id", "signing-key id FILE...")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("want one or more key files")
	}
	for _, name := range fs.Args() {
		pub, err := readSigningPub(name)
		if err != nil {
			priv, perr := readSigningKey(name)
			if perr != nil {
				return err
			}
			pub = priv.Public().(ed25519.PublicKey)
		}
		fmt.Fprintf(e.stdout, "%s  %s\n", manifest.SigningKeyID(pub), name)
	}
	return nil
}

// readSigningKey reads an Ed25519 private key (PEM PKCS #8).
func readSigningKey(name string) (ed25519.PrivateKey, error) {
	der, err := readPEM(name, pemPrivate)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T, want an Ed25519 key (capstatic signing-key create)", name, k)
	}
	return priv, nil
}

// readSigningPub reads an Ed25519 public key (PEM PKIX).
func readSigningPub(name string) (ed25519.PublicKey, error) {
	der, err := readPEM(name, pemPublic)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T, want an Ed25519 public key", name, k)
	}
	return pub, nil
}

func readPEM(name, typ string) ([]byte, error) {
	raw, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(raw)
	switch {
	case b == nil:
		return nil, fmt.Errorf("%s: not a PEM file", name)
	case b.Type == pemPrivate && typ == pemPublic:
		return nil, fmt.Errorf("%s is a private key: give the resolver the public key (%s.pub)", name, name)
	case b.Type != typ:
		return nil, fmt.Errorf("%s: PEM block %q, want %q", name, b.Type, typ)
	}
	return b.Bytes, nil
}

// signingFlags are the publisher's signing flags, taken by publish and by
// every operation that writes a pointer.
type signingFlags struct {
	key string
	ttl time.Duration
}

func (s *signingFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&s.key, "signing-key", "", "Ed25519 private key (PEM) that signs the app pointer (capstatic signing-key create)")
	fs.DurationVar(&s.ttl, "signing-ttl", defaultSigningTTL, "with --signing-key: how long the signed pointer stays valid (0: no expiry)")
}

// signer returns the publisher's signer; the zero Signer without
// --signing-key.
func (s *signingFlags) signer() (publish.Signer, error) {
	if s.key == "" {
		return publish.Signer{}, nil
	}
	if s.ttl < 0 {
		return publish.Signer{}, usagef("--signing-ttl %s: want a positive duration or 0", s.ttl)
	}
	k, err := readSigningKey(s.key)
	if err != nil {
		return publish.Signer{}, fmt.Errorf("--signing-key: %w", err)
	}
	return publish.Signer{Key: k, TTL: s.ttl}, nil
}

// trustOpts are the serve flags that make the resolver check pointer
// signatures.
type trustOpts struct {
	pubs  []string
	state string
}

func (t *trustOpts) addFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&t.pubs, "signing-pub", nil, "Ed25519 public key (PEM) app pointers must be signed with: unsigned, expired and rolled-back pointers are refused (repeat during a key rotation)")
	fs.StringVar(&t.state, "trust-state", "", "with --signing-pub: file keeping the highest trusted sequence of each app across restarts (default: trust on first use after a restart)")
}

// verifier returns the catalog's Verifier, or nil without --signing-pub.
func (t *trustOpts) verifier(log *slog.Logger) (resolver.Verifier, error) {
	if len(t.pubs) == 0 {
		if t.state != "" {
			return nil, usagef("--trust-state needs --signing-pub")
		}
		return nil, nil
	}
	keys := make([]ed25519.PublicKey, len(t.pubs))
	ids := make([]string, len(t.pubs))
	for i, name := range t.pubs {
		k, err := readSigningPub(name)
		if err != nil {
			return nil, fmt.Errorf("--signing-pub: %w", err)
		}
		keys[i], ids[i] = k, manifest.SigningKeyID(k)
	}
	tr, err := resolver.NewTrust(keys[0], resolver.TrustConfig{StateFile: t.state, Keys: keys[1:]})
	if err != nil {
		return nil, err
	}
	log.Info("checking app pointer signatures", "keys", strings.Join(ids, ","), "trust_state", t.state)
	return tr, nil
}
