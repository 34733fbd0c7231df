// Command delta benchmarks capstatic's delta (manifest) updates on real web
// builds published on npm, and fails when a bound is broken.
//
//	go run ./bench/delta [-packages bench/delta-packages.txt] [-cache .cache/npm] [-brotli brotli]
//	bash bench/delta.sh   (the same, from the module root)
//
// bench/delta-packages.txt pins each tarball by name, version and SHA-256,
// with the build folder inside the package. A tarball missing from the
// cache (.cache/npm, gitignored) is fetched with "npm pack NAME@VERSION" —
// the only network access, and never from tests — and every tarball is
// checked against its SHA-256 before use. Consecutive lines of one package
// form a pair (old, new). For each pair the program publishes old and then
// new with [publish.Publisher] into a fresh [publish.NewDir] store, on one
// channel, and measures:
//
//   - zip: the clear zip of the new bundle, what a device without manifest
//     support downloads. Releases here are clear, so exactly one zip is
//     written per bundle (the ZIPS column counts zips the incremental
//     publish wrote) and no encrypted zip exists;
//   - ours: the bytes a device holding the old version downloads through
//     the new manifest ([delta.Plan] over the new files, holding the old
//     contents);
//   - optimum: the sum over the new build's files whose content the old
//     version lacks of min(raw size, size after the reference encoder
//     "brotli -q 11"), run on each such file. Fails when ours exceeds it by
//     more than -tolerance (2%);
//   - cold and incremental publish wall time: old into an empty store, then
//     new on top of it;
//   - written: every byte the incremental publish wrote to the store (zip,
//     objects, bundle record, state, pointer, index), which must stay within
//     zip + the new objects + 64 KiB + 200 B per file (the metadata
//     allowance).
//
// The exit status is 0 when every bound holds, 1 when one is broken or the
// run fails, and 2 for a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"text/tabwriter"
	"time"
)

// config is what the command line sets.
type config struct {
	packages, cache, brotli string
	tolerance               float64
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c config
	fs := flag.NewFlagSet("delta", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.packages, "packages", "bench/delta-packages.txt", "pinned tarballs: NAME VERSION SHA256 SUBDIR per line")
	fs.StringVar(&c.cache, "cache", ".cache/npm", "folder of downloaded tarballs")
	fs.StringVar(&c.brotli, "brotli", "brotli", "reference brotli command")
	fs.Float64Var(&c.tolerance, "tolerance", 0.02, "allowed excess of our download over the optimum")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rows, err := bench(ctx, c, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "delta: %v\n", err)
		return 1
	}
	printTable(stdout, rows, c.tolerance)
	failed := false
	for _, r := range rows {
		for _, msg := range r.violations(c.tolerance) {
			fmt.Fprintf(stderr, "delta: FAIL %s %s→%s: %s\n", r.name, r.old, r.new, msg)
			failed = true
		}
	}
	if failed {
		return 1
	}
	return 0
}

// bench fetches, unpacks and measures every pair of the packages file.
func bench(ctx context.Context, c config, log io.Writer) ([]result, error) {
	pkgs, err := readPackages(c.packages)
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "capstatic-bench-delta-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	dirs := make([]string, len(pkgs))
	for i, p := range pkgs {
		tgz, err := fetch(ctx, p, c.cache, log)
		if err != nil {
			return nil, err
		}
		if dirs[i], err = unpack(tgz, p, work); err != nil {
			return nil, err
		}
	}
	var rows []result
	for i := 1; i < len(pkgs); i++ {
		if pkgs[i].name != pkgs[i-1].name {
			continue
		}
		fmt.Fprintf(log, "delta: %s %s → %s\n", pkgs[i].name, pkgs[i-1].version, pkgs[i].version)
		r, err := measure(ctx, c, work, pkgs[i-1], pkgs[i], dirs[i-1], dirs[i])
		if err != nil {
			return nil, fmt.Errorf("%s %s→%s: %w", pkgs[i].name, pkgs[i-1].version, pkgs[i].version, err)
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no pair of consecutive versions of one package", c.packages)
	}
	return rows, nil
}

// printTable prints the figures of rows, one pair a line.
func printTable(w io.Writer, rows []result, tolerance float64) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "PACKAGE\tPAIR\tKIND\tFILES\tNEW\tZIP\tOURS\tOURS/ZIP\tOPTIMUM\tOURS/OPT\tCOLD\tINCR\tOBJECTS\tMETA\tWRITTEN\tBOUND\tZIPS\tOK\t")
	for _, r := range rows {
		ok := "ok"
		if len(r.violations(tolerance)) > 0 {
			ok = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s→%s\t%s\t%d\t%d\t%d\t%d\t%s\t%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t\n",
			r.name, r.old, r.new, r.kind, r.files, r.changed, r.zip, r.ours, pct(r.ours, r.zip),
			r.optimum, ratio(r.ours, r.optimum), ms(r.cold), ms(r.incr), r.objects, r.written-r.zip-r.objects,
			r.written, r.bound, r.zips, ok)
	}
	tw.Flush()
	fmt.Fprintln(w, "Sizes in bytes. NEW: files whose content the old version lacks. OBJECTS: delta objects the new version adds.")
	fmt.Fprintln(w, "META: the rest of WRITTEN (bundle record, state, pointer, index). BOUND: ZIP + OBJECTS + 64 KiB + 200 B × FILES.")
	fmt.Fprintln(w, "ZIPS: zips the incremental publish wrote; the releases are clear, so that is the one clear zip (no encrypted zip).")
}

func pct(n, total int64) string {
	if total == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", float64(n)*100/float64(total))
}

func ratio(n, d int64) string {
	if d == 0 {
		if n == 0 {
			return "1.000"
		}
		return "inf"
	}
	return fmt.Sprintf("%.3f", float64(n)/float64(d))
}

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }
