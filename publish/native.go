package publish

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/capstatic/capstatic/manifest"
)

// This file keeps web bundles on the native builds they were made for
// (DESIGN.md, "Precomputed answers"). Operators register app-store builds
// ([AddNative]); every bundle records the [Fingerprint] of the project it
// was built in and, optionally, an explicit range of native versions. A
// bundle is compatible with a registered build when the fingerprints are
// equal or the build's version is inside the bundle's range ([Compatible]).
// A publish that no registered build of the channel's platforms could run
// is refused ([IncompatibleError]); and with every state it writes, the
// publisher precomputes for each channel and build the newest compatible
// bundle of the channel's history, which the resolver offers devices on
// that build. An app with no registered build has no gating at all.

// ErrIncompatible is wrapped by [IncompatibleError].
var ErrIncompatible = errors.New("bundle matches no registered native build")

// IncompatibleError is returned by [Publisher.Publish] for a release that
// no registered native build of its channel's enabled platforms can run.
type IncompatibleError struct {
	Version, Fingerprint, Native, Channel string
	// Builds are the registered builds of the channel's platforms.
	Builds []manifest.NativeBuild
}

func (e *IncompatibleError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bundle %s ", e.Version)
	switch {
	case e.Fingerprint == "":
		b.WriteString("has no fingerprint")
	default:
		fmt.Fprintf(&b, "has fingerprint %s", short(e.Fingerprint))
	}
	if e.Native != "" {
		fmt.Fprintf(&b, " and native range %q", e.Native)
	}
	fmt.Fprintf(&b, " and matches none of the native builds registered for channel %s:", e.Channel)
	for i, n := range e.Builds {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, " %s %s (%s)", n.Platform, n.Version, short(n.Fingerprint))
	}
	return b.String()
}

func (e *IncompatibleError) Unwrap() error { return ErrIncompatible }

func short(fp string) string {
	if len(fp) > 12 {
		return fp[:12]
	}
	return fp
}

// AddNative registers a native build in st: platform, version (coerced like
// devices' version_build, "1.4" ⇒ "1.4.0") and the fingerprint of the
// project it was built from. A build of the same platform and version is
// replaced; replaced reports it.
func AddNative(st *manifest.State, platform, version, fingerprint string) (n manifest.NativeBuild, replaced bool, err error) {
	if !manifest.ValidPlatform(platform) {
		return n, false, fmt.Errorf("unknown platform %q (want ios, android or electron)", platform)
	}
	v, err := manifest.CoerceNative(version)
	if err != nil {
		return n, false, err
	}
	fingerprint = strings.ToLower(fingerprint)
	if !validFingerprint(fingerprint) {
		return n, false, fmt.Errorf("fingerprint %q is not 8 to 128 hex characters", fingerprint)
	}
	n = manifest.NativeBuild{Platform: platform, Version: v.String(), Fingerprint: fingerprint}
	i := slices.IndexFunc(st.Natives, func(o manifest.NativeBuild) bool { return o.Key() == n.Key() })
	if i >= 0 {
		st.Natives[i] = n
		return n, true, nil
	}
	st.Natives = append(st.Natives, n)
	slices.SortFunc(st.Natives, func(a, b manifest.NativeBuild) int { return strings.Compare(a.Key(), b.Key()) })
	return n, false, nil
}

// RegisterNative registers a native build of app (see [AddNative]) and
// commits the new state. Unlike [Publisher.Update] it also works for an app
// that has published nothing yet: builds may be registered first.
func (p *Publisher) RegisterNative(ctx context.Context, app, platform, version, fingerprint string) (n manifest.NativeBuild, replaced bool, ptr *manifest.Pointer, err error) {
	head, err := Load(ctx, p.Store, app)
	if err != nil && !errors.Is(err, ErrNoApp) {
		return n, false, nil, err
	}
	st := head.State.Clone()
	st.Seq++
	if n, replaced, err = AddNative(st, platform, version, fingerprint); err != nil {
		return n, false, nil, err
	}
	ptr, err = Commit(ctx, p.Store, head, st, p.Sign, p.now())
	return n, replaced, ptr, err
}

func validFingerprint(s string) bool {
	if len(s) < 8 || len(s) > 128 {
		return false
	}
	return strings.Trim(s, "0123456789abcdef") == ""
}

// RemoveNative unregisters the native build of platform and version.
func RemoveNative(st *manifest.State, platform, version string) error {
	v, err := manifest.CoerceNative(version)
	if err != nil {
		return err
	}
	key := manifest.NativeBuild{Platform: platform, Version: v.String()}.Key()
	i := slices.IndexFunc(st.Natives, func(o manifest.NativeBuild) bool { return o.Key() == key })
	if i < 0 {
		return fmt.Errorf("no native build %s %s is registered for %s", platform, v, st.App)
	}
	st.Natives = slices.Delete(st.Natives, i, i+1)
	return nil
}

// Compatible reports whether bundle b may run on native build n: both have
// the same fingerprint, or b's explicit native range (a Masterminds semver
// constraint such as ">=1.4.0 <2.0.0") contains n's version. The builtin
// bundle (b == nil) is compatible with every build.
func Compatible(b *manifest.Bundle, n manifest.NativeBuild) bool {
	if b == nil {
		return true
	}
	if b.Fingerprint != "" && b.Fingerprint == n.Fingerprint {
		return true
	}
	return inRange(b.Native, n.Version)
}

func inRange(constraint, version string) bool {
	if constraint == "" {
		return false
	}
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return false
	}
	v, err := manifest.CoerceNative(version)
	return err == nil && c.Check(v)
}

// checkNative refuses a release that no registered native build of its
// channel's enabled platforms can run, unless rel.Force is set. It also
// validates rel.Native.
func checkNative(st *manifest.State, rel Release) error {
	if rel.Native != "" {
		if _, err := semver.NewConstraint(rel.Native); err != nil {
			return fmt.Errorf("native range %q: %w", rel.Native, err)
		}
	}
	if rel.Force || rel.Channel == "" {
		return nil
	}
	s := manifest.DefaultSettings()
	if ch := st.Channels[rel.Channel]; ch != nil {
		s = ch.Settings
	} else if rel.Settings != nil {
		s = *rel.Settings
	}
	b := &manifest.Bundle{Fingerprint: strings.ToLower(rel.Fingerprint), Native: rel.Native}
	var builds []manifest.NativeBuild
	for _, n := range st.Natives {
		if !s.Platform(n.Platform) {
			continue
		}
		if Compatible(b, n) {
			return nil
		}
		builds = append(builds, n)
	}
	if len(builds) == 0 {
		return nil
	}
	return &IncompatibleError{Version: rel.Version, Fingerprint: b.Fingerprint, Native: rel.Native,
		Channel: rel.Channel, Builds: builds}
}

// precomputeNatives fills every channel's [manifest.Channel.Natives] from
// st's registered builds, and adds the records of the bundles it names to
// st.Bundles so that [manifest.State.Prune] keeps them. Records of older
// history entries that are no longer live are read from store, only as far
// back as a build still lacks a compatible bundle; a record missing from
// the store counts as incompatible.
func precomputeNatives(ctx context.Context, store Store, st *manifest.State) error {
	if len(st.Natives) == 0 {
		for _, c := range st.Channels {
			c.Natives = nil
		}
		return nil
	}
	load := recordLoader(ctx, store, st)
	for _, name := range st.ChannelNames() {
		c := st.Channels[name]
		c.Natives = make(map[string]manifest.NativeTarget, len(st.Natives))
		walk := offered(c)
		for _, n := range st.Natives {
			var nt manifest.NativeTarget
			if c.Rollout != nil {
				nt.Rollout = st.Bundles[c.Rollout.Target] != nil && Compatible(st.Bundles[c.Rollout.Target], n)
			}
			for _, target := range walk {
				if target == manifest.Builtin {
					nt.Target = target
					break
				}
				b, err := load(target)
				if err != nil {
					return err
				}
				if b != nil && Compatible(b, n) {
					nt.Target = target
					st.Bundles[target] = b
					break
				}
			}
			c.Natives[n.Key()] = nt
		}
	}
	return nil
}

// offered lists what channel c offered, newest first: its current target,
// then the targets of its history before the entry that set it, leaving out
// rolled-back entries and repeats. A channel offering nothing lists nothing.
func offered(c *manifest.Channel) []string {
	if c.Target == "" {
		return nil
	}
	from := len(c.History)
	for i := len(c.History) - 1; i >= 0; i-- {
		if e := c.History[i]; !e.RolledBack && e.Target == c.Target {
			from = i
			break
		}
	}
	seen := map[string]bool{c.Target: true}
	out := []string{c.Target}
	for i := from - 1; i >= 0; i-- {
		e := c.History[i]
		if e.RolledBack || e.Target == "" || seen[e.Target] {
			continue
		}
		seen[e.Target] = true
		out = append(out, e.Target)
	}
	return out
}

// recordLoader returns a function giving the record of a bundle id: from
// st.Bundles, else from store (verified, cached), else nil when the store
// no longer has it.
func recordLoader(ctx context.Context, store Store, st *manifest.State) func(id string) (*manifest.Bundle, error) {
	if st.Bundles == nil {
		st.Bundles = map[string]*manifest.Bundle{}
	}
	cache := map[string]*manifest.Bundle{}
	return func(id string) (*manifest.Bundle, error) {
		if b := st.Bundles[id]; b != nil {
			return b, nil
		}
		if b, ok := cache[id]; ok {
			return b, nil
		}
		d, err := manifest.ParseDigest(id)
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", st.App, err)
		}
		raw, err := readAll(ctx, store, manifest.BundleRecordPath(st.App, d), manifest.MaxBundleSize)
		if errors.Is(err, fs.ErrNotExist) {
			cache[id] = nil
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		b, err := manifest.DecodeBundle(st.App, raw)
		if err != nil {
			return nil, err
		}
		if b.ID != d {
			return nil, fmt.Errorf("bundle record %s of %s: %w", id, st.App, manifest.ErrDigestMismatch)
		}
		cache[id] = b
		return b, nil
	}
}
