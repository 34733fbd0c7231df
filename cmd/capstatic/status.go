package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
)

// channelJSON describes one channel for --json output and tables.
func channelJSON(st *manifest.State, name string) map[string]any {
	ch := st.Channels[name]
	m := map[string]any{"type": "channel", "app": st.App, "channel": name, "id": ch.ID,
		"default_for": publish.DefaultsOf(st, name), "settings": ch.Settings, "version": targetVersion(st, ch.Target)}
	if r := ch.Rollout; r != nil {
		m["rollout"] = map[string]any{"version": targetVersion(st, r.Target), "percent": float64(r.BPS) / 100, "paused": r.Paused}
	}
	return m
}

func targetVersion(st *manifest.State, target string) string {
	switch target {
	case "":
		return "-"
	case manifest.Builtin:
		return manifest.Builtin
	}
	if b := st.Bundle(target); b != nil {
		return b.Version
	}
	return target
}

func rolloutText(st *manifest.State, ch *manifest.Channel) string {
	r := ch.Rollout
	if r == nil {
		return "-"
	}
	s := fmt.Sprintf("%s @ %.2f%%", targetVersion(st, r.Target), float64(r.BPS)/100)
	if r.Paused {
		s += " (paused)"
	}
	return s
}

func settingsText(s manifest.Settings) string {
	var parts []string
	add := func(on bool, name string) {
		if on {
			parts = append(parts, name)
		}
	}
	add(s.Disabled, "DISABLED")
	add(s.AllowSelfSet, "self-assign")
	for _, p := range manifest.Platforms {
		add(!s.Platform(p), "no-"+p)
	}
	add(!s.AllowDev, "no-dev")
	add(!s.AllowProd, "no-prod")
	add(!s.AllowEmulator, "no-emulator")
	add(!s.AllowDevice, "no-device")
	parts = append(parts, "auto-update:"+s.DisableAutoUpdate)
	add(!s.DisableUnderNative, "under-native-ok")
	add(s.ZipOnly, "zip-only")
	if s.DeviceKey != "" {
		parts = append(parts, "device-key:"+s.DeviceKey)
	}
	return strings.Join(parts, " ")
}

func runStatus(ctx context.Context, e *env, args []string) error {
	var a appFlags
	fs := newFlags(e, "status", "status --store TREE [--app ID] [--json]")
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
		enc.Encode(map[string]any{"type": "app", "app": st.App, "seq": st.Seq, "updated": st.Updated,
			"versions": len(st.Versions), "overrides": len(st.Overrides), "natives": st.Natives})
		for _, name := range st.ChannelNames() {
			m := channelJSON(st, name)
			m["history"] = st.Channels[name].History
			enc.Encode(m)
		}
		return nil
	}
	fmt.Fprintf(e.stdout, "app %s: state %d, updated %s, %d versions, %d device overrides\n",
		st.App, st.Seq, st.Updated.Format("2006-01-02 15:04:05Z"), len(st.Versions), len(st.Overrides))
	for _, name := range st.ChannelNames() {
		ch := st.Channels[name]
		fmt.Fprintf(e.stdout, "\nchannel %s (id %d)", name, ch.ID)
		if d := publish.DefaultsOf(st, name); len(d) > 0 {
			fmt.Fprintf(e.stdout, ", default for %s", strings.Join(d, ", "))
		}
		fmt.Fprintf(e.stdout, "\n  offers:   %s\n  rollout:  %s\n  settings: %s\n", targetVersion(st, ch.Target),
			rolloutText(st, ch), settingsText(ch.Settings))
		printHistory(e, ch, 5)
	}
	for _, n := range st.Natives {
		fmt.Fprintf(e.stdout, "\nnative build %s %s fingerprint %s\n", n.Platform, n.Version, n.Fingerprint)
	}
	return nil
}

func printHistory(e *env, ch *manifest.Channel, max int) {
	h := ch.History
	if max > 0 && len(h) > max {
		h = h[len(h)-max:]
	}
	for i := len(h) - 1; i >= 0; i-- {
		ev := h[i]
		mark := ""
		if ev.RolledBack {
			mark = " (rolled back)"
		}
		fmt.Fprintf(e.stdout, "  %-4d %s  %-22s %s%s\n", ev.Seq, ev.Time.Format("2006-01-02 15:04:05Z"), ev.Action, ev.Version, mark)
	}
}
