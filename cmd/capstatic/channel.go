package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
)

// appFlags are the flags every operation on one app takes.
type appFlags struct {
	store storeFlags
	app   string
	json  bool
	sign  signingFlags // signing.go
}

func (a *appFlags) add(fs *pflag.FlagSet) {
	a.store.add(fs)
	fs.StringVar(&a.app, "app", "", "app id (default: appId of ./capacitor.config.json)")
	fs.BoolVar(&a.json, "json", false, "print one JSON object per result")
	a.sign.add(fs)
}

// publisher opens the store and fills the app id default.
func (a *appFlags) publisher(ctx context.Context, e *env) (*publish.Publisher, error) {
	if a.app == "" {
		cfg, err := readCapConfig(".")
		if err != nil {
			return nil, err
		}
		a.app = cfg.AppID
	}
	if a.app == "" {
		return nil, usagef("--app is required (or an appId in ./capacitor.config.json)")
	}
	sign, err := a.sign.signer()
	if err != nil {
		return nil, err
	}
	store, err := a.store.open(ctx, e)
	if err != nil {
		return nil, err
	}
	return &publish.Publisher{Store: store, Sign: sign}, nil
}

// update opens the store and applies fn to the app's state as one new
// state and one pointer flip ([publish.Publisher.Update]); fn gets the
// publisher for what it needs besides the state (records, the clock).
func (a *appFlags) update(ctx context.Context, e *env, fn func(pub *publish.Publisher, st *manifest.State) error) (*manifest.Pointer, error) {
	pub, err := a.publisher(ctx, e)
	if err != nil {
		return nil, err
	}
	return pub.Update(ctx, a.app, func(st *manifest.State) error { return fn(pub, st) })
}

// state opens the store and reads the app's current state.
func (a *appFlags) state(ctx context.Context, e *env) (*manifest.State, error) {
	pub, err := a.publisher(ctx, e)
	if err != nil {
		return nil, err
	}
	head, err := publish.Load(ctx, pub.Store, a.app)
	if err != nil {
		return nil, err
	}
	return head.State, nil
}

// report prints the outcome of a state change, then purges the changed
// pointers from the CDN's cache when that is configured (purge.go).
func (a *appFlags) report(e *env, ptr *manifest.Pointer, what string, extra map[string]any) error {
	if a.json {
		m := map[string]any{"type": "state", "app": a.app, "seq": ptr.Seq, "state": ptr.State.String(), "change": what}
		for k, v := range extra {
			m[k] = v
		}
		if err := json.NewEncoder(e.stdout).Encode(m); err != nil {
			return err
		}
		return a.store.purgeChanged(e, true, false)
	}
	fmt.Fprintf(e.stdout, "%s: %s (state %d)\n", a.app, what, ptr.Seq)
	return a.store.purgeChanged(e, false, false)
}

// settingFlags are the channel settings a command line can change.
type settingFlags struct {
	public, selfSet, ios, android, electron      bool
	dev, prod, emulator, device, underNative     bool
	disabled, zipOnly                            bool
	autoUpdate, deviceKey, target, unknownNative string
	defaultFor                                   []string
}

func (s *settingFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&s.public, "public", false, "make the channel the default of its platforms (false: make it private)")
	fs.StringSliceVar(&s.defaultFor, "default-for", nil, "make the channel the default of these platforms only")
	fs.BoolVar(&s.selfSet, "self-assign", false, "allow devices to assign themselves to the channel")
	fs.BoolVar(&s.ios, "ios", true, "serve iOS devices")
	fs.BoolVar(&s.android, "android", true, "serve Android devices")
	fs.BoolVar(&s.electron, "electron", true, "serve Electron")
	fs.BoolVar(&s.dev, "allow-dev", true, "serve debug builds")
	fs.BoolVar(&s.prod, "allow-prod", true, "serve release builds")
	fs.BoolVar(&s.emulator, "allow-emulator", true, "serve emulators")
	fs.BoolVar(&s.device, "allow-device", true, "serve physical devices")
	fs.StringVar(&s.autoUpdate, "disable-auto-update", manifest.AutoUpdateMajor, "none, major, minor, patch or metadata")
	fs.BoolVar(&s.underNative, "disable-under-native", true, "refuse bundles older than the native version")
	fs.BoolVar(&s.disabled, "disabled", false, "kill switch: answer \"no new version\" to everyone")
	fs.BoolVar(&s.zipOnly, "zip-only", false, "send whole zips only, no delta manifests")
	fs.StringVar(&s.deviceKey, "device-key", "", "key the app binary carries, for devices that send no key_id: v1:KEYID and/or v2:KEYID, comma-separated")
	fs.StringVar(&s.target, "target", "", "what the channel offers: a published version, or builtin (emergency revert)")
	fs.StringVar(&s.unknownNative, "unknown-native", "", "devices on unregistered native versions: capgo (default) or refuse")
}

// apply copies the flags the user changed onto st.
func (s *settingFlags) apply(fs *pflag.FlagSet, st *manifest.Settings) error {
	set := func(name string, dst *bool, v bool) {
		if fs.Changed(name) {
			*dst = v
		}
	}
	set("self-assign", &st.AllowSelfSet, s.selfSet)
	set("ios", &st.IOS, s.ios)
	set("android", &st.Android, s.android)
	set("electron", &st.Electron, s.electron)
	set("allow-dev", &st.AllowDev, s.dev)
	set("allow-prod", &st.AllowProd, s.prod)
	set("allow-emulator", &st.AllowEmulator, s.emulator)
	set("allow-device", &st.AllowDevice, s.device)
	set("disable-under-native", &st.DisableUnderNative, s.underNative)
	set("disabled", &st.Disabled, s.disabled)
	set("zip-only", &st.ZipOnly, s.zipOnly)
	if fs.Changed("disable-auto-update") {
		switch s.autoUpdate {
		case manifest.AutoUpdateNone, manifest.AutoUpdateMajor, manifest.AutoUpdateMinor, manifest.AutoUpdatePatch, manifest.AutoUpdateMetadata:
			st.DisableAutoUpdate = s.autoUpdate
		default:
			return usagef("--disable-auto-update %q: want none, major, minor, patch or metadata", s.autoUpdate)
		}
	}
	if fs.Changed("device-key") {
		st.DeviceKey = s.deviceKey
	}
	if fs.Changed("unknown-native") {
		switch s.unknownNative {
		case "capgo", "":
			st.UnknownNative = ""
		case manifest.UnknownNativeRefuse:
			st.UnknownNative = s.unknownNative
		default:
			return usagef("--unknown-native %q: want capgo or refuse", s.unknownNative)
		}
	}
	return nil
}

func runChannel(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("want a subcommand: create, set, list or delete")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "create", "set":
		return channelSet(ctx, e, sub, args)
	case "list":
		return channelList(ctx, e, args)
	case "delete":
		return channelDelete(ctx, e, args)
	}
	return usagef("unknown channel subcommand %q", sub)
}

func channelSet(ctx context.Context, e *env, sub string, args []string) error {
	var a appFlags
	var s settingFlags
	fs := newFlags(e, "channel "+sub, "channel "+sub+" NAME --store TREE [settings]")
	a.add(fs)
	s.add(fs)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("want one channel name")
	}
	name := fs.Arg(0)
	if !manifest.ValidChannelName(name) {
		return usagef("invalid channel name %q", name)
	}
	ptr, err := a.update(ctx, e, func(pub *publish.Publisher, st *manifest.State) error {
		ch := st.Channels[name]
		switch {
		case ch == nil && sub == "set":
			return fmt.Errorf("channel %q of %s: %w (use channel create)", name, a.app, publish.ErrNoChannel)
		case ch != nil && sub == "create":
			return fmt.Errorf("channel %q of %s already exists", name, a.app)
		case ch == nil:
			ch = publish.CreateChannel(st, name, manifest.DefaultSettings())
		}
		if err := s.apply(fs, &ch.Settings); err != nil {
			return err
		}
		if err := s.applyTarget(ctx, fs, pub, st, name); err != nil {
			return err
		}
		return s.applyDefault(fs, st, name, ch)
	})
	if err != nil {
		return err
	}
	return a.report(e, ptr, "channel "+name+" "+sub, map[string]any{"channel": name})
}

func (s *settingFlags) applyTarget(ctx context.Context, fs *pflag.FlagSet, pub *publish.Publisher, st *manifest.State, name string) error {
	if !fs.Changed("target") {
		return nil
	}
	if s.target == manifest.Builtin {
		return publish.Target(st, name, manifest.Builtin, manifest.Builtin, "target builtin", pub.Now)
	}
	b, err := pub.Bundle(ctx, st, s.target)
	if err != nil {
		return err
	}
	return publish.Target(st, name, b.ID.String(), b.Version, "target", pub.Now)
}

func (s *settingFlags) applyDefault(fs *pflag.FlagSet, st *manifest.State, name string, ch *manifest.Channel) error {
	switch {
	case fs.Changed("default-for"):
		publish.DropDefault(st, name)
		return publish.MakeDefault(st, name, s.defaultFor)
	case fs.Changed("public") && s.public:
		var ps []string
		for _, p := range []string{manifest.PlatformIOS, manifest.PlatformAndroid, manifest.PlatformElectron} {
			if ch.Settings.Platform(p) {
				ps = append(ps, p)
			}
		}
		return publish.MakeDefault(st, name, ps)
	case fs.Changed("public"):
		publish.DropDefault(st, name)
	}
	// A platform turned off cannot stay this channel's default.
	for _, p := range publish.DefaultsOf(st, name) {
		if !ch.Settings.Platform(p) {
			delete(st.Defaults, p)
		}
	}
	return nil
}

func channelDelete(ctx context.Context, e *env, args []string) error {
	var a appFlags
	fs := newFlags(e, "channel delete", "channel delete NAME --store TREE")
	a.add(fs)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("want one channel name")
	}
	ptr, err := a.update(ctx, e, func(_ *publish.Publisher, st *manifest.State) error { return publish.DeleteChannel(st, fs.Arg(0)) })
	if err != nil {
		return err
	}
	return a.report(e, ptr, "channel "+fs.Arg(0)+" deleted", nil)
}

func channelList(ctx context.Context, e *env, args []string) error {
	var a appFlags
	fs := newFlags(e, "channel list", "channel list --store TREE --app ID")
	a.add(fs)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	st, err := a.state(ctx, e)
	if err != nil {
		return err
	}
	if a.json {
		enc := json.NewEncoder(e.stdout)
		for _, name := range st.ChannelNames() {
			enc.Encode(channelJSON(st, name))
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANNEL\tID\tDEFAULT FOR\tOFFERS\tROLLOUT\tSETTINGS")
	for _, name := range st.ChannelNames() {
		c := channelJSON(st, name)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", name, c["id"], strings.Join(publish.DefaultsOf(st, name), ","),
			c["version"], rolloutText(st, st.Channels[name]), settingsText(st.Channels[name].Settings))
	}
	return tw.Flush()
}
