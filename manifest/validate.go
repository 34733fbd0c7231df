package manifest

import (
	"errors"
	"fmt"
)

// Validate checks a state's internal consistency: format, app id, channel
// settings, that every target names a bundle record it holds, and that every
// record is valid. It is what a reader runs on a state from an untrusted
// store.
func (s *State) Validate() error {
	if s.Format < 1 || s.Format > FormatVersion {
		return fmt.Errorf("state: unsupported format %d", s.Format)
	}
	if err := CheckAppID(s.App); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	var errs []error
	for name, c := range s.Channels {
		if c == nil {
			errs = append(errs, fmt.Errorf("channel %q: empty", name))
			continue
		}
		if err := s.validateChannel(name, c); err != nil {
			errs = append(errs, fmt.Errorf("channel %q: %w", name, err))
		}
	}
	for p, name := range s.Defaults {
		if !ValidPlatform(p) || s.Channels[name] == nil {
			errs = append(errs, fmt.Errorf("default for %q names unknown channel %q", p, name))
		}
	}
	for id, b := range s.Bundles {
		if b == nil || b.ID.String() != id {
			errs = append(errs, fmt.Errorf("bundle %s: record does not match its key", id))
			continue
		}
		if err := b.Validate(s.App); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("state of %s: %w", s.App, err)
	}
	return nil
}

func (s *State) validateChannel(name string, c *Channel) error {
	if !ValidChannelName(name) {
		return errors.New("invalid name")
	}
	switch c.Settings.DisableAutoUpdate {
	case AutoUpdateNone, AutoUpdateMajor, AutoUpdateMinor, AutoUpdatePatch, AutoUpdateMetadata:
	default:
		return fmt.Errorf("invalid disable_auto_update %q", c.Settings.DisableAutoUpdate)
	}
	if c.Target != "" && c.Target != Builtin && s.Bundles[c.Target] == nil {
		return fmt.Errorf("target %s has no bundle record", c.Target)
	}
	for p, a := range c.Answers {
		if !ValidPlatform(p) || a.Offer != c.Target || (a.Check != "" && a.Check != "disabled_platform_"+p) {
			return fmt.Errorf("precomputed answer for %q does not match the channel", p)
		}
	}
	if r := c.Rollout; r != nil {
		if r.BPS < 0 || r.BPS > 10000 {
			return fmt.Errorf("rollout share %d out of range", r.BPS)
		}
		if s.Bundles[r.Target] == nil {
			return fmt.Errorf("rollout target %s has no bundle record", r.Target)
		}
	}
	return nil
}

// ValidChannelName reports whether name is usable as a channel name: 1 to
// 64 printable ASCII characters without slash, backslash or quote.
func ValidChannelName(name string) bool {
	if name == "" || len(name) > 64 || name == Builtin {
		return false
	}
	for _, r := range name {
		if r <= ' ' || r > '~' || r == '/' || r == '\\' || r == '"' {
			return false
		}
	}
	return true
}

// Validate checks a bundle record of app: version, checksums, and that every
// object path stays inside the app's folder and every file name is one the
// plugin accepts.
func (b *Bundle) Validate(app string) error {
	wrap := func(err error) error { return fmt.Errorf("bundle %s: %w", b.Version, err) }
	if _, err := ParseBundleVersion(b.Version); err != nil {
		return wrap(err)
	}
	if len(b.CRC32) != 8 && b.CRC32 != "" {
		return wrap(fmt.Errorf("crc32 %q is not 8 hex characters", b.CRC32))
	}
	if b.Zip != nil && !ValidObjectPath(app, b.Zip.Path) {
		return wrap(fmt.Errorf("unsafe zip path %q", b.Zip.Path))
	}
	if b.Zip == nil && len(b.Keys) == 0 {
		return wrap(errors.New("neither a clear zip nor an encrypted one"))
	}
	for _, f := range b.Files {
		if !ValidFileName(f.Name) || !ValidObjectPath(app, f.Object.Path) {
			return wrap(fmt.Errorf("unsafe file entry %q", f.Name))
		}
	}
	for _, k := range b.Keys {
		if k.Scheme != SchemeV1 && k.Scheme != SchemeV2 {
			return wrap(fmt.Errorf("unknown scheme %q", k.Scheme))
		}
		if !ValidObjectPath(app, k.Zip.Path) {
			return wrap(fmt.Errorf("unsafe encrypted zip path %q", k.Zip.Path))
		}
		for _, f := range k.Files {
			if !ValidFileName(f.Name) || !ValidObjectPath(app, f.Object.Path) {
				return wrap(fmt.Errorf("unsafe encrypted file entry %q", f.Name))
			}
		}
	}
	return nil
}
