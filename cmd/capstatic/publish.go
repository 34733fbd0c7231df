package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
)

type publishOpts struct {
	store     storeFlags
	app       string
	version   string
	channel   string
	minUpdate string
	link      string
	comment   string
	level     int
	json      bool
	quiet     bool
	dev       bool
	enc       encryptFlags // keys.go
	imp       importFlags  // keys.go
	native    nativeFlags  // native.go
	sign      signingFlags // signing.go
}

func runPublish(ctx context.Context, e *env, args []string) error {
	var o publishOpts
	fs := newFlags(e, "publish", "publish [DIR] --app ID --version V --channel NAME --store TREE [--encrypt [--key FILE | --key-data PEM]] [--encrypt-legacy]\n"+
		"       capstatic publish --zip FILE ...            (a zip from capgo bundle zip, published byte for byte)\n"+
		"       capstatic publish --import-zip FILE --checksum C --session-key S [--key-id ID | --public-key PUB] ...\n"+
		"                                                   (a zip from capgo bundle encrypt, published as it is)")
	o.store.add(fs)
	fs.StringVar(&o.app, "app", "", "app id (default: appId of ./capacitor.config.json)")
	fs.StringVar(&o.version, "version", "", "bundle version, strict semver (default: version of ./package.json)")
	fs.StringVar(&o.channel, "channel", "production", "channel that gets the bundle")
	fs.StringVar(&o.minUpdate, "min-update-version", "", "lowest native version allowed when the channel's disable_auto_update is metadata")
	fs.StringVar(&o.link, "link", "", "link shown by plugins ≥ x.35")
	fs.StringVar(&o.comment, "comment", "", "comment shown by plugins ≥ x.35")
	fs.IntVar(&o.level, "brotli-level", 11, "brotli quality for delta files (1–11; 0 or less: only where required)")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per result")
	fs.BoolVar(&o.quiet, "quiet", false, "print nothing but errors")
	fs.BoolVar(&o.dev, "dev-channel", false, "create the channel with permissive development settings")
	o.enc.add(fs)
	o.imp.add(fs)
	o.native.add(fs)
	o.sign.add(fs)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := o.imp.check(&o.enc, fs.Args()); err != nil {
		return err
	}
	dir, err := o.resolve(fs.Args())
	if err != nil {
		return err
	}
	keys, err := o.enc.keys()
	if err != nil {
		return err
	}
	store, err := o.store.open(ctx, e)
	if err != nil {
		return err
	}
	if !o.imp.active() {
		if err := checkBuildDir(dir); err != nil {
			return err
		}
	}
	level := o.level
	if level <= 0 {
		level = -1
	}
	rel := publish.Release{App: o.app, Version: o.version, Channel: o.channel,
		MinUpdateVersion: o.minUpdate, Link: o.link, Comment: o.comment, Level: level, Keys: keys}
	if o.dev {
		s := manifest.DevSettings()
		rel.Settings = &s
	}
	if err := o.native.apply(&rel); err != nil {
		return err
	}
	sign, err := o.sign.signer()
	if err != nil {
		return err
	}
	prog := newProgress(e, o.quiet || o.json) // progress.go
	pub := &publish.Publisher{Store: store, Progress: prog.object, Sign: sign}
	var res *publish.Result
	if o.imp.active() {
		res, err = o.imp.publish(ctx, pub, rel)
	} else {
		rel.Build = os.DirFS(dir)
		res, err = pub.Publish(ctx, rel)
	}
	prog.done()
	if err != nil {
		return nativeHint(err)
	}
	if err := printPublish(e, &o, res, deltaReport(ctx, e, pub, o.app, res)); err != nil { // report.go
		return err
	}
	return o.store.purgeChanged(e, o.json, o.quiet) // purge.go
}

// resolve fills defaults from capacitor.config.json and package.json.
func (o *publishOpts) resolve(args []string) (string, error) {
	if len(args) > 1 {
		return "", usagef("want at most one build folder, got %d", len(args))
	}
	cfg, err := readCapConfig(".")
	if err != nil {
		return "", err
	}
	if o.app == "" {
		o.app = cfg.AppID
	}
	if o.app == "" {
		return "", usagef("--app is required (or an appId in ./capacitor.config.json)")
	}
	if o.version == "" {
		o.version = packageVersion(".")
	}
	if o.version == "" {
		return "", usagef("--version is required (or a version in ./package.json)")
	}
	dir := cfg.WebDir
	if len(args) == 1 {
		dir = args[0]
	}
	if dir == "" && !o.imp.active() {
		return "", usagef("give the build folder (or a webDir in ./capacitor.config.json)")
	}
	return dir, nil
}

// checkBuildDir refuses a build folder containing a symlink that leaves it.
func checkBuildDir(dir string) error {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("build folder: %w", err)
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return err
		}
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			return fmt.Errorf("build folder: %w", err)
		}
		if rel, err := filepath.Rel(root, target); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return fmt.Errorf("build folder: symlink %s points outside the folder", p)
		}
		return nil
	})
}

func printPublish(e *env, o *publishOpts, res *publish.Result, rep *publish.DeltaReport) error {
	b := res.Bundle
	if o.json {
		err := json.NewEncoder(e.stdout).Encode(map[string]any{
			"type": "publish", "app": o.app, "version": b.Version, "channel": o.channel, "bundle": b.ID.String(),
			"seq": res.Seq, "unchanged": res.Unchanged, "created_channel": res.Created, "defaults": res.Defaults,
			"sha256": b.SHA256.String(), "crc32": b.CRC32, "size": b.Size, "files": len(b.Files),
			"objects_written": res.Written, "objects_skipped": res.Skipped, "bytes_written": res.Bytes,
			"encrypted": b.Encrypted(), "keys": keyList(b),
		})
		if err != nil {
			return err
		}
		return printDeltaJSON(e, o.app, rep)
	}
	if o.quiet {
		return nil
	}
	state := "published"
	if res.Unchanged {
		state = "already published (same bytes)"
	}
	fmt.Fprintf(e.stdout, "%s %s %s to channel %s (state %d): %d files, zip %d bytes, sha256 %s\n",
		state, o.app, b.Version, o.channel, res.Seq, len(b.Files), b.Size, b.SHA256)
	fmt.Fprintf(e.stdout, "  objects: %d written (%d bytes), %d already present\n", res.Written, res.Bytes, res.Skipped)
	for _, k := range b.Keys {
		fmt.Fprintf(e.stdout, "  encrypted for %s key %s (%d delta files); no clear copy published\n", k.Scheme, k.KeyID, len(k.Files))
	}
	if res.Created {
		fmt.Fprintf(e.stdout, "  created channel %s", o.channel)
		if len(res.Defaults) > 0 {
			fmt.Fprintf(e.stdout, "; it is now the public default for %s", strings.Join(res.Defaults, " and "))
		}
		fmt.Fprintln(e.stdout)
	}
	printDelta(e, rep)
	return nil
}

// keyList names the encryption records of b for --json.
func keyList(b *manifest.Bundle) []map[string]string {
	l := []map[string]string{}
	for _, k := range b.Keys {
		l = append(l, map[string]string{"scheme": k.Scheme, "key_id": k.KeyID})
	}
	return l
}

var _ = errors.New
