package main

import (
	"context"
	"time"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
)

// runResign renews the signature of an app's pointer: it writes the next
// state (the same content with the next sequence number) and a pointer
// signed with a fresh expiry. A new sequence number is needed because a
// resolver treats an equal one naming the same state as "no change" and
// would keep checking the old, expiring pointer it holds. Run it on a
// schedule shorter than the TTL when an app may go unpublished that long,
// and with a new key to rotate keys.
func runResign(ctx context.Context, e *env, args []string) error {
	var a appFlags
	fs := newFlags(e, "resign", "resign --store TREE --app ID --signing-key FILE [--ttl 720h]")
	a.store.add(fs)
	fs.StringVar(&a.app, "app", "", "app id (default: appId of ./capacitor.config.json)")
	fs.BoolVar(&a.json, "json", false, "print one JSON object per result")
	fs.StringVar(&a.sign.key, "signing-key", "", "Ed25519 private key (PEM) that signs the pointer (required)")
	fs.DurationVar(&a.sign.ttl, "ttl", defaultSigningTTL, "how long the new signature stays valid (0: no expiry)")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if a.sign.key == "" {
		return usagef("--signing-key is required")
	}
	ptr, err := a.update(ctx, e, func(*publish.Publisher, *manifest.State) error { return nil })
	if err != nil {
		return err
	}
	expires := "never"
	if ptr.Expires != nil {
		expires = ptr.Expires.Format(time.RFC3339)
	}
	return a.report(e, ptr, "re-signed with key "+ptr.SignKey+", expires "+expires,
		map[string]any{"expires": ptr.Expires, "sig_key": ptr.SignKey})
}
