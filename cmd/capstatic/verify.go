package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/capstatic/capstatic/publish"
)

// errProblems marks a verify that found problems (exit status 1); the
// problems themselves are printed on stdout.
type errProblems int

func (n errProblems) Error() string {
	if n == 1 {
		return "the tree has 1 problem"
	}
	return fmt.Sprintf("the tree has %d problems", int(n))
}

func runVerify(ctx context.Context, e *env, args []string) error {
	var (
		store  storeFlags
		apps   []string
		asJSON bool
	)
	fs := newFlags(e, "verify", "verify --store TREE [--app ID]... [--json]\n\n"+
		"Re-reads the tree as the resolver and devices do and reports every problem: index.json,\n"+
		"each app's pointer and state (exact size and SHA-256), the record of every live bundle\n"+
		"and each of its objects (size, SHA-256, the zip's CRC32, the decoded content of brotli\n"+
		"delta files; encrypted objects by size and stored digest), and the record of every\n"+
		"bundle a channel's history names (or gc's tombstone). Exits 1 when it finds a problem.")
	store.add(fs)
	fs.StringSliceVar(&apps, "app", nil, "check only these apps (default: every app index.json lists)")
	fs.BoolVar(&asJSON, "json", false, `print one JSON object per problem ({"type":"problem"}) and a summary ({"type":"verify"})`)
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("verify takes no arguments")
	}
	s, err := store.open(ctx, e)
	if err != nil {
		return err
	}
	rep, err := publish.Verify(ctx, s, apps)
	if err != nil {
		return err
	}
	if err := printVerify(e, rep, asJSON); err != nil {
		return err
	}
	if len(rep.Problems) > 0 {
		return errProblems(len(rep.Problems))
	}
	return nil
}

func printVerify(e *env, rep *publish.VerifyReport, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		for _, p := range rep.Problems {
			if err := enc.Encode(map[string]any{"type": "problem", "app": p.App, "key": p.Key, "error": p.Err.Error()}); err != nil {
				return err
			}
		}
		return enc.Encode(map[string]any{"type": "verify", "apps": nonNil(rep.Apps), "objects": rep.Objects,
			"bytes": rep.Bytes, "problems": len(rep.Problems), "ok": len(rep.Problems) == 0})
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(e.stdout, "problem: %v\n", p)
	}
	verdict := "ok"
	if n := len(rep.Problems); n > 0 {
		verdict = errProblems(n).Error()
	}
	fmt.Fprintf(e.stdout, "verified %d apps, %d objects (%s): %s\n", len(rep.Apps), rep.Objects, bytesText(float64(rep.Bytes)), verdict)
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
