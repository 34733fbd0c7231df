package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
)

// nativeFlags are the native-compatibility flags of publish.
type nativeFlags struct {
	fingerprint string
	nativeRange string
	force       bool
}

func (n *nativeFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&n.fingerprint, "fingerprint", "", "fingerprint of the native build the bundle is for (default: computed from the project in the working folder)")
	fs.StringVar(&n.nativeRange, "native-range", "", `native versions the bundle may run on, a semver range such as ">=1.4.0 <2.0.0"`)
	fs.BoolVar(&n.force, "force", false, "publish even when no registered native build matches the bundle")
}

// apply records the bundle's fingerprint and native range in rel.
func (n *nativeFlags) apply(rel *publish.Release) error {
	fp, err := projectFingerprint(n.fingerprint, ".")
	if err != nil {
		return err
	}
	rel.Fingerprint, rel.Native, rel.Force = fp, n.nativeRange, n.force
	return nil
}

// projectFingerprint returns flag when set, else the fingerprint of the
// project in dir, else "" when dir is not a Capacitor project.
func projectFingerprint(flag, dir string) (string, error) {
	if flag != "" {
		return strings.ToLower(flag), nil
	}
	fp, err := publish.Fingerprint(dir)
	if errors.Is(err, publish.ErrNoProject) {
		return "", nil
	}
	return fp, err
}

// nativeHint adds to a refused publish what the user can do about it.
func nativeHint(err error) error {
	if errors.Is(err, publish.ErrIncompatible) {
		return fmt.Errorf("%w; register the native build it is for (capstatic native add --platform P --version V, run in that build's project) or publish with --native-range RANGE or --force", err)
	}
	return err
}

func runNative(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("want a subcommand: add, remove, list or fingerprint")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "add", "remove":
		return nativeEdit(ctx, e, sub, args)
	case "list":
		return nativeList(ctx, e, args)
	case "fingerprint":
		return nativeFingerprint(e, args)
	}
	return usagef("unknown native subcommand %q", sub)
}

func nativeEdit(ctx context.Context, e *env, sub string, args []string) error {
	var (
		a                              appFlags
		platform, version, fingerprint string
		project                        string
	)
	fs := newFlags(e, "native "+sub, "native "+sub+" --store TREE --app ID --platform ios|android|electron --version V [--fingerprint HEX]")
	a.add(fs)
	fs.StringVar(&platform, "platform", "", "ios, android or electron")
	fs.StringVar(&version, "version", "", "native version of the build, as devices send it (version_build)")
	if sub == "add" {
		fs.StringVar(&fingerprint, "fingerprint", "", "fingerprint of the build (default: computed from --project)")
		fs.StringVar(&project, "project", ".", "Capacitor project folder the build was made from")
	}
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 || platform == "" || version == "" {
		return usagef("want --platform and --version and no arguments")
	}
	if sub == "add" && fingerprint == "" {
		fp, err := publish.Fingerprint(project)
		if err != nil {
			return fmt.Errorf("fingerprint of the build: %w (give --fingerprint, or run in the project folder)", err)
		}
		fingerprint = fp
	}
	pub, err := a.publisher(ctx, e)
	if err != nil {
		return err
	}
	if sub == "remove" {
		ptr, err := pub.Update(ctx, a.app, func(st *manifest.State) error { return publish.RemoveNative(st, platform, version) })
		if err != nil {
			return err
		}
		return a.report(e, ptr, "native build "+platform+" "+version+" removed", map[string]any{"platform": platform, "native_version": version})
	}
	n, replaced, ptr, err := pub.RegisterNative(ctx, a.app, platform, version, fingerprint)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("native build %s %s registered with fingerprint %s", n.Platform, n.Version, n.Fingerprint)
	if replaced {
		what = fmt.Sprintf("native build %s %s now has fingerprint %s", n.Platform, n.Version, n.Fingerprint)
	}
	return a.report(e, ptr, what, map[string]any{"platform": n.Platform, "native_version": n.Version, "fingerprint": n.Fingerprint})
}

func nativeList(ctx context.Context, e *env, args []string) error {
	var a appFlags
	fs := newFlags(e, "native list", "native list --store TREE --app ID")
	a.add(fs)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	st, err := a.state(ctx, e)
	if err != nil {
		return err
	}
	names := st.ChannelNames()
	if a.json {
		enc := json.NewEncoder(e.stdout)
		for _, n := range st.Natives {
			offers := map[string]string{}
			for _, name := range names {
				offers[name] = nativeOffer(st, name, n)
			}
			enc.Encode(map[string]any{"type": "native", "app": a.app, "platform": n.Platform, "version": n.Version,
				"fingerprint": n.Fingerprint, "offers": offers})
		}
		return nil
	}
	if len(st.Natives) == 0 {
		fmt.Fprintf(e.stdout, "%s registers no native build: bundles are not gated by native version\n", a.app)
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "PLATFORM\tVERSION\tFINGERPRINT\t%s\n", strings.Join(names, "\t"))
	for _, n := range st.Natives {
		row := []string{n.Platform, n.Version, n.Fingerprint[:min(12, len(n.Fingerprint))]}
		for _, name := range names {
			row = append(row, nativeOffer(st, name, n))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// nativeOffer names what channel offers native build n: a version,
// "builtin", or "-" when nothing is compatible.
func nativeOffer(st *manifest.State, channel string, n manifest.NativeBuild) string {
	t := st.Channels[channel].Natives[n.Key()].Target
	switch {
	case t == manifest.Builtin:
		return t
	case st.Bundle(t) != nil:
		return st.Bundle(t).Version
	}
	return "-"
}

func nativeFingerprint(e *env, args []string) error {
	var project string
	fs := newFlags(e, "native fingerprint", "native fingerprint [--project DIR]")
	fs.StringVar(&project, "project", ".", "Capacitor project folder")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	fp, err := publish.Fingerprint(project)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, fp)
	return nil
}
