package publish

import (
	"fmt"
	"sort"
	"strings"

	"github.com/capstatic/capstatic/manifest"
)

// MakeDefault makes channel the public default of each platform in
// platforms, taking it from the channel that had it (one default per
// platform). The channel must have those platforms enabled.
func MakeDefault(st *manifest.State, name string, platforms []string) error {
	ch, err := Channel(st, name)
	if err != nil {
		return err
	}
	if st.Defaults == nil {
		st.Defaults = map[string]string{}
	}
	for _, p := range platforms {
		if !manifest.ValidPlatform(p) {
			return fmt.Errorf("unknown platform %q", p)
		}
		if !ch.Settings.Platform(p) {
			return fmt.Errorf("channel %q has %s disabled; enable it before making the channel its default", name, p)
		}
		st.Defaults[p] = name
	}
	return nil
}

// DropDefault makes channel private: it stops being any platform's default.
func DropDefault(st *manifest.State, name string) {
	for p, c := range st.Defaults {
		if c == name {
			delete(st.Defaults, p)
		}
	}
}

// DefaultsOf returns the platforms channel name is the default of, sorted.
func DefaultsOf(st *manifest.State, name string) []string {
	var ps []string
	for p, c := range st.Defaults {
		if c == name {
			ps = append(ps, p)
		}
	}
	sort.Strings(ps)
	return ps
}

// DeleteChannel removes a channel, its defaults and the operator overrides
// that point to it.
func DeleteChannel(st *manifest.State, name string) error {
	if _, err := Channel(st, name); err != nil {
		return err
	}
	delete(st.Channels, name)
	DropDefault(st, name)
	for dev, c := range st.Overrides {
		if c == name {
			delete(st.Overrides, dev)
		}
	}
	return nil
}

// SetOverride pins a device to a channel ("" removes the pin).
func SetOverride(st *manifest.State, device, channel string) error {
	device = strings.ToLower(device)
	if channel == "" {
		delete(st.Overrides, device)
		return nil
	}
	if _, err := Channel(st, channel); err != nil {
		return err
	}
	if st.Overrides == nil {
		st.Overrides = map[string]string{}
	}
	st.Overrides[device] = channel
	return nil
}
