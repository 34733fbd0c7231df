package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
)

// deltaReport returns the delta report of a publish, or nil after telling
// stderr why there is none: the bundle is published whatever the report
// says, so a failure to read old records must not fail the command.
func deltaReport(ctx context.Context, e *env, pub *publish.Publisher, app string, res *publish.Result) *publish.DeltaReport {
	r, err := pub.DeltaReport(ctx, app, res)
	if err != nil {
		fmt.Fprintf(e.stderr, "capstatic: warning: %v\n", err)
		return nil
	}
	return r
}

// rowFrom names the device of a report row for people.
func rowFrom(row publish.DeltaRow) (from, kind string) {
	switch row.From {
	case "":
		return "nothing cached", "none"
	case manifest.Builtin:
		return "builtin ≈ " + row.Like, "builtin"
	}
	return row.From, "version"
}

// printDelta prints r as a short table after the publish summary.
func printDelta(e *env, r *publish.DeltaReport) {
	if r == nil {
		return
	}
	if r.Encrypted {
		fmt.Fprintf(e.stdout, "  delta: %s\n", publish.EncryptedNote)
		return
	}
	fmt.Fprintf(e.stdout, "  delta downloads of %s (%d files; the zip is %d bytes):\n", r.Version, r.Files, r.Zip)
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "    FROM\tFILES\tBYTES\tOF ZIP")
	for _, row := range r.Rows {
		from, _ := rowFrom(row)
		if row.Unknown {
			fmt.Fprintf(tw, "    %s\t?\t?\t%s\n", from, "encrypted")
			continue
		}
		fmt.Fprintf(tw, "    %s\t%d/%d\t%d\t%s\n", from, row.Download, r.Files, row.Bytes, percent(row.Bytes, r.Zip))
	}
	tw.Flush()
	if len(r.Missing) > 0 {
		fmt.Fprintf(e.stdout, "  (%d earlier bundles have no record left in the store)\n", len(r.Missing))
	}
	if c := r.Cascade; c != nil {
		fmt.Fprintf(e.stdout, "  warning: hash cascade since %s: %s\n", c.From, publish.CascadeHint)
		fmt.Fprintf(e.stdout, "    %s\n", c.Detail)
	}
}

// printDeltaJSON prints one object of type "delta" per row of r, and one
// of type "warning" for a hash cascade.
func printDeltaJSON(e *env, app string, r *publish.DeltaReport) error {
	if r == nil {
		return nil
	}
	enc := json.NewEncoder(e.stdout)
	if r.Encrypted {
		return enc.Encode(map[string]any{"type": "delta", "app": app, "version": r.Version,
			"encrypted": true, "note": publish.EncryptedNote, "zip_bytes": r.Zip})
	}
	for _, row := range r.Rows {
		_, kind := rowFrom(row)
		m := map[string]any{"type": "delta", "app": app, "version": r.Version, "from": row.From, "kind": kind,
			"files": r.Files, "zip_bytes": r.Zip}
		if row.Like != "" {
			m["like"] = row.Like
		}
		if row.Unknown {
			m["unknown"], m["note"] = true, "the bundle of "+cmp.Or(row.Like, row.From)+" is encrypted"
		} else {
			m["download_files"], m["download_bytes"], m["reused_files"] = row.Download, row.Bytes, row.Reused
		}
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	if c := r.Cascade; c != nil {
		return enc.Encode(map[string]any{"type": "warning", "warning": "hash_cascade", "app": app,
			"version": r.Version, "from": c.From, "detail": c.Detail, "hint": publish.CascadeHint})
	}
	return nil
}

// percent renders n as a share of total.
func percent(n, total int64) string {
	if total <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", float64(n)*100/float64(total))
}
