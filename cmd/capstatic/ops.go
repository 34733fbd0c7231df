package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
)

func runPromote(ctx context.Context, e *env, args []string) error {
	var a appFlags
	fs := newFlags(e, "promote", "promote FROM TO --store TREE --app ID")
	a.add(fs)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usagef("want two channel names: FROM and TO")
	}
	from, to := fs.Arg(0), fs.Arg(1)
	ptr, err := a.update(ctx, e, func(pub *publish.Publisher, st *manifest.State) error { return publish.Promote(st, from, to, pub.Now) })
	if err != nil {
		return err
	}
	return a.report(e, ptr, "promoted "+from+" to "+to, nil)
}

func runRollback(ctx context.Context, e *env, args []string) error {
	var a appFlags
	var to string
	fs := newFlags(e, "rollback", "rollback CHANNEL [--to VERSION] --store TREE --app ID")
	a.add(fs)
	fs.StringVar(&to, "to", "", "history entry to return to (default: the previous one)")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("want one channel name")
	}
	var got string
	ptr, err := a.update(ctx, e, func(pub *publish.Publisher, st *manifest.State) error {
		var err error
		if got, err = publish.Rollback(st, fs.Arg(0), to, pub.Now); err != nil {
			return err
		}
		if got != manifest.Builtin {
			_, err = pub.Bundle(ctx, st, got)
		}
		return err
	})
	if err != nil {
		return err
	}
	return a.report(e, ptr, "channel "+fs.Arg(0)+" rolled back to "+got, map[string]any{"version": got})
}

func runHistory(ctx context.Context, e *env, args []string) error {
	var a appFlags
	fs := newFlags(e, "history", "history CHANNEL --store TREE --app ID")
	a.add(fs)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("want one channel name")
	}
	st, err := a.state(ctx, e)
	if err != nil {
		return err
	}
	ch, err := publish.Channel(st, fs.Arg(0))
	if err != nil {
		return err
	}
	if a.json {
		enc := json.NewEncoder(e.stdout)
		for _, ev := range ch.History {
			enc.Encode(map[string]any{"type": "history", "channel": fs.Arg(0), "event": ev})
		}
		return nil
	}
	printHistory(e, ch, 0)
	return nil
}

func runRollout(ctx context.Context, e *env, args []string) error {
	var a appFlags
	var version, percent string
	fs := newFlags(e, "rollout", "rollout CHANNEL (--version V --percent P | pause | resume | abort | finish) --store TREE")
	a.add(fs)
	fs.StringVar(&version, "version", "", "bundle to roll out (default: the current rollout bundle)")
	fs.StringVar(&percent, "percent", "", "share of devices, 0–100 (two decimals)")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		return usagef("want CHANNEL and optionally pause, resume, abort or finish")
	}
	name, action := fs.Arg(0), fs.Arg(1)
	bps := -1
	if percent != "" {
		p, err := strconv.ParseFloat(strings.TrimSuffix(percent, "%"), 64)
		if err != nil || p < 0 || p > 100 {
			return usagef("--percent %q: want a number from 0 to 100", percent)
		}
		bps = int(p*100 + 0.5)
	}
	if action == "" && bps < 0 {
		return usagef("give --percent, or an action: pause, resume, abort, finish")
	}
	ptr, err := a.update(ctx, e, func(pub *publish.Publisher, st *manifest.State) error {
		if action != "" {
			return publish.RolloutAction(st, name, action, pub.Now)
		}
		return setRollout(ctx, pub, st, name, version, bps)
	})
	if err != nil {
		return err
	}
	what := "rollout on " + name + " " + action
	if action == "" {
		what = "rollout on " + name + " set to " + percent + "%"
	}
	return a.report(e, ptr, what, map[string]any{"channel": name, "bps": bps})
}

func setRollout(ctx context.Context, pub *publish.Publisher, st *manifest.State, name, version string, bps int) error {
	ch, err := publish.Channel(st, name)
	if err != nil {
		return err
	}
	if version == "" {
		if ch.Rollout == nil {
			return usagef("channel %q has no rollout yet: give --version", name)
		}
		version = st.Bundle(ch.Rollout.Target).Version
	}
	b, err := pub.Bundle(ctx, st, version)
	if err != nil {
		return err
	}
	return publish.SetRollout(st, name, b, bps)
}

func runOverrides(ctx context.Context, e *env, args []string) error {
	var a appFlags
	fs := newFlags(e, "overrides", "overrides set DEVICE_ID CHANNEL | unset DEVICE_ID | list  --store TREE --app ID")
	a.add(fs)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	sub := fs.Arg(0)
	want := map[string]int{"set": 3, "unset": 2, "list": 1}[sub]
	if want == 0 || fs.NArg() != want {
		return usagef("want: set DEVICE_ID CHANNEL, unset DEVICE_ID, or list")
	}
	if sub == "list" {
		st, err := a.state(ctx, e)
		if err != nil {
			return err
		}
		for dev, ch := range st.Overrides {
			if a.json {
				json.NewEncoder(e.stdout).Encode(map[string]string{"type": "override", "device_id": dev, "channel": ch})
			} else {
				e.stdout.Write([]byte(dev + " " + ch + "\n"))
			}
		}
		return nil
	}
	dev, ch := strings.ToLower(fs.Arg(1)), fs.Arg(2)
	ptr, err := a.update(ctx, e, func(_ *publish.Publisher, st *manifest.State) error { return publish.SetOverride(st, dev, ch) })
	if err != nil {
		return err
	}
	return a.report(e, ptr, "override "+sub+" for "+dev, nil)
}
