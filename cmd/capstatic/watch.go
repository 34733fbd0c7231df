package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/fsnotify/fsnotify"
	"github.com/spf13/pflag"

	"github.com/capstatic/capstatic/delta"
	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
)

// Watch-mode defaults.
const (
	defaultWatchAddr = "0.0.0.0:8080"
	// defaultDebounce is how long the folder must stay quiet after a change
	// before it is published: long enough to batch a bundler's burst of
	// writes, short enough to feel immediate.
	defaultDebounce = 150 * time.Millisecond
	// rootPoll is how often a removed build folder is looked for again.
	rootPoll = 250 * time.Millisecond
)

type watchOpts struct {
	serve    serveOpts
	app      string
	channel  string
	debounce time.Duration
}

func runWatch(ctx context.Context, e *env, args []string) error {
	var o watchOpts
	fs := newFlags(e, "watch", "watch [DIR] --app ID [--channel dev] [--addr HOST:PORT] [--store TREE]")
	fs.StringVar(&o.serve.store, "store", "", "the tree to publish to and serve (default: a temporary folder, removed on exit)")
	fs.StringVar(&o.app, "app", "", "app id (default: appId of ./capacitor.config.json)")
	fs.StringVar(&o.channel, "channel", "dev", "channel that gets every change; created self-assignable with development settings")
	fs.DurationVar(&o.debounce, "debounce", defaultDebounce, "quiet time after the last change before publishing")
	o.serve.addFlags(fs)
	setDefault(fs, "addr", defaultWatchAddr)
	setDefault(fs, "stats", "none")
	setDefault(fs, "ttl", "0s")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	dir, err := o.resolve(fs.Args())
	if err != nil {
		return err
	}
	cleanup, err := o.openTree()
	if err != nil {
		return err
	}
	defer cleanup()
	if tree, err := filepath.Abs(o.serve.store); err != nil || inside(tree, dir) {
		return usagef("--store %s: the tree cannot be inside the watched folder", o.serve.store)
	}
	store, err := publish.NewDir(o.serve.store)
	if err != nil {
		return err
	}
	fp, err := projectFingerprint("", ".")
	if err != nil {
		return err
	}
	w := &watcher{e: e, pub: &publish.Publisher{Store: store}, dir: dir, app: o.app, channel: o.channel,
		base: watchBase(packageVersion(".")), fingerprint: fp, debounce: o.debounce}
	return w.serve(ctx, &o)
}

// inside reports whether path p is dir or below it.
func inside(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// setDefault changes the default of a flag defined by shared code.
func setDefault(fs *pflag.FlagSet, name, v string) {
	f := fs.Lookup(name)
	f.Value.Set(v)
	f.DefValue = v
}

// resolve fills the app id and the build folder from capacitor.config.json
// and picks the URL devices use.
func (o *watchOpts) resolve(args []string) (string, error) {
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
	if err := manifest.CheckAppID(o.app); err != nil {
		return "", usagef("--app: %v (or an appId in ./capacitor.config.json)", err)
	}
	if !manifest.ValidChannelName(o.channel) {
		return "", usagef("invalid channel name %q", o.channel)
	}
	dir := cfg.WebDir
	if len(args) == 1 {
		dir = args[0]
	}
	if dir == "" {
		return "", usagef("give the build folder (or a webDir in ./capacitor.config.json)")
	}
	host, port, err := net.SplitHostPort(o.serve.addr)
	if err != nil || port == "0" {
		return "", usagef("--addr %q: want HOST:PORT with a fixed port", o.serve.addr)
	}
	if o.serve.publicURL == "" {
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			if lan := lanAddrs(); len(lan) > 0 {
				host = lan[0].ip
			}
		}
		o.serve.publicURL = "http://" + net.JoinHostPort(host, port)
		if o.serve.tlsCert != "" {
			o.serve.publicURL = "https://" + net.JoinHostPort(host, port)
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if info, err := os.Stat(abs); err != nil || !info.IsDir() {
		return "", fmt.Errorf("build folder %s: not a folder", dir)
	}
	return abs, nil
}

// openTree creates the store folder, a temporary one when none was given.
func (o *watchOpts) openTree() (cleanup func(), err error) {
	if o.serve.store != "" {
		return func() {}, os.MkdirAll(o.serve.store, 0o755)
	}
	tmp, err := os.MkdirTemp("", "capstatic-watch-")
	if err != nil {
		return nil, err
	}
	o.serve.store = tmp
	return func() { os.RemoveAll(tmp) }, nil
}

// watchBase is the release part of the versions watch publishes: that of
// package.json's version, or 0.0.0.
func watchBase(v string) string {
	sv, err := semver.NewVersion(v)
	if err != nil {
		return "0.0.0"
	}
	return fmt.Sprintf("%d.%d.%d", sv.Major(), sv.Minor(), sv.Patch())
}

// watcher republishes a build folder on every change.
type watcher struct {
	e           *env
	pub         *publish.Publisher
	dir         string // absolute
	app         string
	channel     string
	base        string
	fingerprint string
	debounce    time.Duration

	seq      int
	stamp    string          // time part of the last version
	last     manifest.Digest // digest of the last published file set
	rootGone bool
}

// serve runs the resolver and the watch loop until ctx is done or the
// server fails; both stop together.
func (w *watcher) serve(ctx context.Context, o *watchOpts) error {
	log := newLogger(w.e, o.serve.logLevel)
	if err := w.prepare(ctx); err != nil {
		return err
	}
	h, cleanup, err := o.serve.build(ctx, w.e, log)
	if err != nil {
		return err
	}
	defer cleanup()
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer fw.Close()
	if err := w.addTree(fw, w.dir); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var serveErr error
	stopped := make(chan struct{})
	go func() { // exits when ctx is done
		serveErr = o.serve.listen(ctx, w.e, h, log)
		close(stopped)
	}()
	w.printSetup(o)
	w.loop(ctx, fw, stopped)
	cancel()
	<-stopped
	return serveErr
}

// prepare creates the watch channel with development settings (the public
// default of ios and android when the app has none yet), or makes an
// existing one self-assignable, so that devices sending defaultChannel
// reach it. The app exists from then on, so the resolver never caches it
// as unknown while the first build is still being written.
func (w *watcher) prepare(ctx context.Context) error {
	head, err := publish.Load(ctx, w.pub.Store, w.app)
	if err != nil && !errors.Is(err, publish.ErrNoApp) {
		return err
	}
	if ch := head.State.Channels[w.channel]; ch != nil && ch.Settings.AllowSelfSet {
		return nil
	}
	st := head.State.Clone()
	st.Seq++
	what := "channel " + w.channel + " is now self-assignable"
	if ch := st.Channels[w.channel]; ch != nil {
		ch.Settings.AllowSelfSet = true
	} else {
		publish.CreateChannel(st, w.channel, manifest.DevSettings())
		what = "created channel " + w.channel + " (self-assignable, development settings)"
		if len(st.Defaults) == 0 {
			if err := publish.MakeDefault(st, w.channel, []string{manifest.PlatformIOS, manifest.PlatformAndroid}); err != nil {
				return err
			}
			what += "; it is the public default for ios and android"
		}
	}
	if _, err := publish.Commit(ctx, w.pub.Store, head, st, w.pub.Sign, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(w.e.stdout, "capstatic watch: %s\n", what)
	return nil
}

// loop waits for changes and publishes once the folder has been quiet for
// the debounce time. It publishes once at start, and returns when ctx is
// done or the server has stopped.
func (w *watcher) loop(ctx context.Context, fw *fsnotify.Watcher, stopped <-chan struct{}) {
	quiet := time.NewTimer(0)
	defer quiet.Stop()
	poll := time.NewTicker(rootPoll)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stopped:
			return
		case ev := <-fw.Events:
			if w.event(fw, ev) {
				quiet.Reset(w.debounce)
			}
		case err := <-fw.Errors:
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.addTree(fw, w.dir)
				quiet.Reset(w.debounce)
				continue
			}
			fmt.Fprintf(w.e.stderr, "capstatic watch: %v\n", err)
		case <-poll.C:
			if w.rootGone && w.addTree(fw, w.dir) == nil {
				w.rootGone = false
				quiet.Reset(w.debounce)
			}
		case <-quiet.C:
			w.publish(ctx)
		}
	}
}

// event handles one file-system event and reports whether it changes the
// build. New folders are watched as they appear.
func (w *watcher) event(fw *fsnotify.Watcher, ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	if filepath.Clean(ev.Name) == w.dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		w.rootGone = true
		fmt.Fprintf(w.e.stderr, "capstatic watch: %s was removed; waiting for it to come back\n", w.dir)
		return false
	}
	rel, err := filepath.Rel(w.dir, ev.Name)
	if err != nil || ignored(filepath.ToSlash(rel)) {
		return false
	}
	if ev.Has(fsnotify.Create) {
		if info, err := os.Stat(ev.Name); err == nil && info.IsDir() {
			w.addTree(fw, ev.Name)
		}
	}
	return true
}

// addTree watches dir and every folder below it, except ignored ones.
func (w *watcher) addTree(fw *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil // vanished while walking: its removal is an event
		}
		if !d.IsDir() {
			return nil
		}
		if rel, _ := filepath.Rel(w.dir, p); p != w.dir && ignored(filepath.ToSlash(rel)) {
			return filepath.SkipDir
		}
		return fw.Add(p)
	})
}

// publish publishes the folder as the next dev version unless it is
// unchanged. Failures are reported and retried on the next change: a
// bundler may be half-way through writing.
func (w *watcher) publish(ctx context.Context) {
	build := watchFS{os.DirFS(w.dir)}
	if _, err := fs.Stat(build, delta.IndexName); err != nil {
		fmt.Fprintf(w.e.stderr, "capstatic watch: no %s in %s yet; waiting\n", delta.IndexName, w.dir)
		return
	}
	sum, err := buildDigest(build)
	if err == nil {
		err = checkBuildDir(w.dir)
	}
	if err != nil {
		fmt.Fprintf(w.e.stderr, "capstatic watch: %v (retrying on the next change)\n", err)
		return
	}
	if sum == w.last {
		return
	}
	start := time.Now()
	s := manifest.DevSettings() // should the channel have been deleted meanwhile
	rel := publish.Release{App: w.app, Channel: w.channel, Build: build, Level: -1, Settings: &s,
		Fingerprint: w.fingerprint, Force: true}
	var res *publish.Result
	for range 3 { // a version of an earlier run in the same second exists
		rel.Version = w.nextVersion(start)
		if res, err = w.pub.Publish(ctx, rel); !errors.Is(err, publish.ErrVersionExists) {
			break
		}
	}
	if err != nil {
		fmt.Fprintf(w.e.stderr, "capstatic watch: publish: %v (retrying on the next change)\n", err)
		return
	}
	w.last = sum
	fmt.Fprintf(w.e.stdout, "%s published %s to channel %s: %d files, %d objects written, %d ms\n",
		time.Now().Format("15:04:05"), rel.Version, w.channel, len(res.Bundle.Files), res.Written,
		time.Since(start).Milliseconds())
}

// nextVersion returns <base>-dev.<UTC YYYYMMDDHHMMSS>.<n>: strictly
// increasing, as n grows and the time never goes back.
func (w *watcher) nextVersion(now time.Time) string {
	stamp := now.UTC().Format("20060102150405")
	if stamp < w.stamp {
		stamp = w.stamp
	}
	w.stamp = stamp
	w.seq++
	return fmt.Sprintf("%s-dev.%s.%d", w.base, stamp, w.seq)
}

// buildDigest hashes the names and contents of the files of a build.
func buildDigest(build fs.FS) (manifest.Digest, error) {
	entries, err := delta.Scan(build)
	if err != nil {
		return manifest.Digest{}, err
	}
	h := sha256.New()
	for _, e := range entries {
		fmt.Fprintf(h, "%q %s\n", e.Name, e.SHA256)
	}
	var d manifest.Digest
	copy(d[:], h.Sum(nil))
	return d, nil
}

// ignored reports whether rel, a '/'-separated path relative to the build
// folder, is editor or tool litter that neither triggers a publish nor
// goes into a bundle: anything in .git/, swap and backup files (*.swp,
// *.swo, *.swn, *.swx, *~), Emacs locks (.#*), Vim's write test file
// 4913, *.tmp, JetBrains safe-write files and .DS_Store.
func ignored(rel string) bool {
	for seg := range strings.SplitSeq(rel, "/") {
		if seg == ".git" {
			return true
		}
	}
	base := path.Base(rel)
	switch {
	case base == "4913", base == ".DS_Store", strings.HasPrefix(base, ".#"), strings.HasSuffix(base, "~"):
		return true
	}
	for _, ext := range []string{".swp", ".swo", ".swn", ".swx", ".tmp", "___jb_tmp___", "___jb_old___"} {
		if strings.HasSuffix(base, ext) {
			return true
		}
	}
	return false
}

// watchFS hides [ignored] files of a build folder, so that they never land
// in a bundle.
type watchFS struct{ fsys fs.FS }

func hidden(op, name string) error {
	return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
}

func (w watchFS) Open(name string) (fs.File, error) {
	if name != "." && ignored(name) {
		return nil, hidden("open", name)
	}
	return w.fsys.Open(name)
}

func (w watchFS) Stat(name string) (fs.FileInfo, error) {
	if name != "." && ignored(name) {
		return nil, hidden("stat", name)
	}
	return fs.Stat(w.fsys, name)
}

func (w watchFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if name != "." && ignored(name) {
		return nil, hidden("readdir", name)
	}
	all, err := fs.ReadDir(w.fsys, name)
	kept := all[:0]
	for _, d := range all {
		if !ignored(path.Join(name, d.Name())) {
			kept = append(kept, d)
		}
	}
	return kept, err
}

// lanAddr is a non-loopback IPv4 address of an interface that is up.
type lanAddr struct{ ip, iface string }

func lanAddrs() []lanAddr {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []lanAddr
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
				continue
			}
			out = append(out, lanAddr{ipn.IP.String(), ifc.Name})
		}
	}
	return out
}

// printSetup tells the developer where devices reach the server and what a
// debug build needs to use it.
func (w *watcher) printSetup(o *watchOpts) {
	out, u := w.e.stdout, o.serve.publicURL
	fmt.Fprintf(out, "capstatic watch: publishing %s to channel %s of %s on every change\n", w.dir, w.channel, w.app)
	fmt.Fprintf(out, "  tree:       %s\n  updateUrl:  %s/updates\n  statsUrl:   %s/stats\n  channelUrl: %s/channel_self\n",
		o.serve.store, u, u, u)
	_, port, _ := net.SplitHostPort(o.serve.addr)
	if lan := lanAddrs(); len(lan) > 0 {
		fmt.Fprintln(out, "  LAN addresses (phones on the same network):")
		for _, a := range lan {
			fmt.Fprintf(out, "    http://%s (%s)\n", net.JoinHostPort(a.ip, port), a.iface)
		}
	}
	if host, _, _ := net.SplitHostPort(o.serve.addr); host == "127.0.0.1" || host == "localhost" {
		fmt.Fprintf(out, "  listening on loopback only: emulators reach it (Android at 10.0.2.2:%s), phones need --addr 0.0.0.0:%s\n", port, port)
	}
	fmt.Fprintf(out, `
Debug build settings:
  capacitor.config.json, "plugins": { "CapacitorUpdater": {
      "updateUrl": "%[1]s/updates",
      "statsUrl": "%[1]s/stats",
      "channelUrl": "%[1]s/channel_self",
      "defaultChannel": "%[2]s"
  } }   then: npx cap sync
  Android, plain HTTP: in android/app/src/debug/AndroidManifest.xml
      <application android:usesCleartextTraffic="true" />
    or a res/xml/network_security_config.xml with
      <domain-config cleartextTrafficPermitted="true"><domain>%[3]s</domain></domain-config>
    referenced by android:networkSecurityConfig="@xml/network_security_config"
  iOS, plain HTTP: in ios/App/App/Info.plist (debug builds only)
      <key>NSAppTransportSecurity</key>
      <dict><key>NSAllowsLocalNetworking</key><true/></dict>
    or, if that is not enough, <key>NSAllowsArbitraryLoads</key><true/>
  (with --tls-cert/--tls-key and a certificate the phone trusts, neither is needed)

`, u, w.channel, urlHost(u))
}

// urlHost returns the host name of URL u without port and brackets.
func urlHost(u string) string {
	if pu, err := url.Parse(u); err == nil && pu.Hostname() != "" {
		return pu.Hostname()
	}
	return "LAN-IP"
}
