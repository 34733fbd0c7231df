package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/capstatic/capstatic/resolver"
)

func runExplain(ctx context.Context, e *env, args []string) error {
	var (
		store, app, device, platform, native, plugin, running, channel, keyID, overrides, request string
		emulator, dev, legacy, asJSON                                                             bool
	)
	fs := newFlags(e, "explain", "explain --store TREE --app ID --device UUID [request flags] | --request FILE")
	fs.StringVar(&store, "store", "", "the tree: a folder, an http(s):// origin, or s3:// / r2://")
	fs.StringVar(&app, "app", "", "app_id")
	fs.StringVar(&device, "device", "00000000-0000-0000-0000-000000000000", "device_id")
	fs.StringVar(&platform, "platform", "android", "platform: ios, android or electron")
	fs.StringVar(&native, "native", "1.0.0", "version_build, the native app version")
	fs.StringVar(&plugin, "plugin", "8.51.23", "plugin_version")
	fs.StringVar(&running, "running", "builtin", "version_name, the bundle the device runs")
	fs.StringVar(&channel, "channel", "", "defaultChannel the device sends")
	fs.BoolVar(&legacy, "no-default-channel", false, "send no defaultChannel key at all (legacy plugins)")
	fs.StringVar(&keyID, "key-id", "", "key_id the device sends")
	fs.BoolVar(&emulator, "emulator", false, "is_emulator")
	fs.BoolVar(&dev, "dev", false, "a debug build (is_prod false)")
	fs.StringVar(&overrides, "overrides", "", "override file, as given to serve")
	fs.StringVar(&request, "request", "", "a JSON request body to replay instead of the flags (- for stdin)")
	fs.BoolVar(&asJSON, "json", false, "print the explanation as JSON")
	var origin originOpts
	origin.addFlags(fs) // the tree may be a folder, an http(s):// origin or a bucket, as for serve
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if store == "" {
		return usagef("--store is required")
	}
	body, err := explainBody(e, request, map[string]any{"app_id": app, "device_id": device, "platform": platform,
		"version_build": native, "plugin_version": plugin, "version_name": running, "is_emulator": emulator,
		"is_prod": !dev, "version_os": "0", "version_code": "1", "custom_id": "", "key_id": keyID}, channel, legacy)
	if err != nil {
		return err
	}
	req, f := resolver.ParseRequest(body)
	if f != nil {
		return fmt.Errorf("request refused before any rule: HTTP %d %s: %s", f.Status, f.Code, f.Message)
	}
	src, err := origin.open(ctx, e, store, nil)
	if err != nil {
		return err
	}
	a, err := resolver.NewCatalog(src, resolver.URLs{Files: "http://resolver/files", Builtin: "http://resolver/builtin"}, nil).App(ctx, req.AppID)
	if err != nil {
		return fmt.Errorf("app %s: %w (the resolver answers 429 on_premise_app)", req.AppID, err)
	}
	var ov resolver.Overrides
	if overrides != "" {
		of, err := resolver.OpenOverrideFile(overrides, nil)
		if err != nil {
			return err
		}
		ov.File = of
	}
	x := resolver.Explain(a, req, ov)
	if asJSON {
		return json.NewEncoder(e.stdout).Encode(map[string]any{"type": "explain", "explanation": x})
	}
	for _, s := range x.Steps {
		fmt.Fprintln(e.stdout, "- "+s)
	}
	fmt.Fprintf(e.stdout, "rule: %s\nanswer: %s\n", x.Rule, x.Answer)
	return nil
}

func explainBody(e *env, request string, fields map[string]any, channel string, legacy bool) ([]byte, error) {
	switch request {
	case "":
	case "-":
		return io.ReadAll(io.LimitReader(e.stdin, resolver.DefaultMaxBody+1))
	default:
		return os.ReadFile(request)
	}
	if !legacy {
		fields["defaultChannel"] = channel
	}
	if fields["key_id"] == "" {
		delete(fields, "key_id")
	}
	return json.Marshal(fields)
}
