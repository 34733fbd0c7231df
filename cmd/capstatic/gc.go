package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/capstatic/capstatic/publish"
)

func runGC(ctx context.Context, e *env, args []string) error {
	var (
		store  storeFlags
		apps   []string
		dryRun bool
		keep   int
		grace  time.Duration
		asJSON bool
	)
	fs := newFlags(e, "gc", "gc --store TREE [--app ID]... [--dry-run] [--keep N] [--grace 24h] [--json]\n\n"+
		"Deletes the objects no reader needs: bundles no channel offers that are not among the\n"+
		"--keep most recent versions of any channel's history (a tombstone records each, so that\n"+
		"verify knows), delta files no kept bundle uses, and states other than the current one.\n"+
		"Objects younger than --grace stay whatever they are (a publish may be in flight).\n"+
		"current.json and index.json are never deleted. Run it when no publisher runs.")
	store.add(fs)
	fs.StringSliceVar(&apps, "app", nil, "collect only these apps (default: every app index.json lists)")
	fs.BoolVar(&dryRun, "dry-run", false, "print what would be deleted and delete nothing")
	fs.IntVar(&keep, "keep", publish.DefaultKeep, "history versions per channel whose bundles stay (0: only what channels offer now)")
	fs.DurationVar(&grace, "grace", publish.DefaultGrace, "objects younger than this stay (0: none; only when no publisher runs)")
	fs.BoolVar(&asJSON, "json", false, `print one JSON object per deleted object ({"type":"gc_delete"}) and a summary ({"type":"gc"})`)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() != 0:
		return usagef("gc takes no arguments")
	case keep < 0:
		return usagef("--keep %d: want 0 or more", keep)
	case grace < 0:
		return usagef("--grace %v: want 0 or more", grace)
	}
	s, err := store.open(ctx, e)
	if err != nil {
		return err
	}
	g := &publish.GC{Store: s, Apps: apps, Keep: keep, Grace: grace, DryRun: dryRun}
	if keep == 0 {
		g.Keep = -1 // the library's zero means the default
	}
	if grace == 0 {
		g.Grace = -1
	}
	rep, runErr := g.Run(ctx)
	if rep != nil {
		if err := printGC(e, rep, dryRun, asJSON); err != nil {
			return err
		}
	}
	return runErr
}

func printGC(e *env, rep *publish.GCReport, dryRun, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		for _, d := range rep.Deleted {
			if err := enc.Encode(map[string]any{"type": "gc_delete", "key": d.Key, "size": d.Size, "dry_run": dryRun}); err != nil {
				return err
			}
		}
		return enc.Encode(map[string]any{"type": "gc", "apps": nonNil(rep.Apps), "deleted": len(rep.Deleted),
			"bytes": rep.Bytes, "kept": rep.Kept, "young": rep.Young, "dry_run": dryRun})
	}
	verb := "deleted"
	if dryRun {
		verb = "would delete"
	}
	for _, d := range rep.Deleted {
		fmt.Fprintf(e.stdout, "%s %s (%s)\n", verb, d.Key, bytesText(float64(d.Size)))
	}
	fmt.Fprintf(e.stdout, "gc of %d apps: %s %d objects (%s); %d stay, %d of them only for their age\n",
		len(rep.Apps), verb, len(rep.Deleted), bytesText(float64(rep.Bytes)), rep.Kept, rep.Young)
	return nil
}
