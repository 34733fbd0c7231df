package resolver

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/capstatic/capstatic/manifest"
)

// MaxOverrides bounds the entries of an override file or device store.
const MaxOverrides = 1_000_000

// OverrideTable maps (app, lower-case device id) to a channel name. The
// zero value is empty. It is immutable once built.
type OverrideTable map[string]string

// Lookup implements [Lookup].
func (t OverrideTable) Lookup(app, device string) (string, bool) {
	c, ok := t[app+" "+device]
	return c, ok
}

// ParseOverrides parses an override file: one "app_id device_id channel"
// triple per line, fields separated by spaces or tabs; blank lines and lines
// starting with '#' are ignored. Device ids are lower-cased. Every field is
// validated, and the first bad line fails the whole file with its line
// number, so a half-edited file never replaces a good one.
func ParseOverrides(b []byte) (OverrideTable, error) {
	t := OverrideTable{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 4096)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("overrides line %d: want \"app_id device_id channel\", got %d fields", n, len(f))
		}
		app, dev, ch := f[0], strings.ToLower(f[1]), f[2]
		switch {
		case !manifest.ValidAppID(app):
			return nil, fmt.Errorf("overrides line %d: invalid app id %q", n, app)
		case !validDeviceID(dev):
			return nil, fmt.Errorf("overrides line %d: invalid device id %q", n, f[1])
		case !manifest.ValidChannelName(ch):
			return nil, fmt.Errorf("overrides line %d: invalid channel name %q", n, ch)
		case len(t) >= MaxOverrides:
			return nil, fmt.Errorf("overrides line %d: more than %d entries", n, MaxOverrides)
		}
		t[app+" "+dev] = ch
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("overrides: %w", err)
	}
	return t, nil
}
