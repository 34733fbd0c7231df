package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"
)

// Bounds of a passing run.
const (
	maxErrorShare  = 0.001 // transport errors + 5xx per request sent
	minAchievedPct = 95    // achieved rate, % of target
)

// calibration is the outcome of the maximum-rate measurement.
type calibration struct {
	rate float64
	*tally
}

// memPoint is the server's memory at one moment of the run.
type memPoint struct {
	when string
	mem  memory
	err  error
}

// report prints the figures of a run and reports whether it passed.
func report(w io.Writer, c config, cal *calibration, rate float64, r *outcome, mem []memPoint) bool {
	fmt.Fprintf(w, "target %s\n", c.url)
	if cal != nil {
		answered, errs := cal.counts()
		fmt.Fprintf(w, "calibration  %d closed loops for %v: %d answers (%d errors, %d unexpected), maximum %.0f/s, p50 %v p99 %v\n",
			c.workers, c.calibrate, answered, errs, cal.unexpected, cal.rate, ms(cal.lat.Quantile(0.5)), ms(cal.lat.Quantile(0.99)))
	}
	answered, errs := r.counts()
	achieved := float64(answered) / r.elapsed.Seconds()
	fmt.Fprintf(w, "run          target %.0f/s for %v, achieved %.0f/s (%.1f %%)\n", rate, c.duration, achieved, 100*achieved/rate)
	fmt.Fprintf(w, "requests     scheduled %d, sent %d, dropped by generator %d (bound: %d queued or in flight on %d connections)\n",
		r.scheduled, r.sent, r.dropped, c.maxInflight, c.workers)
	fmt.Fprintf(w, "             answered %d, transport errors %d, unexpected answers %d\n", answered, r.transport, r.unexpected)
	if r.firstErr != nil {
		fmt.Fprintf(w, "             first transport error: %v\n", r.firstErr)
	}
	printAnswers(w, r.tally)
	fmt.Fprintf(w, "latency      from scheduled send: p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
		ms(r.lat.Quantile(0.5)), ms(r.lat.Quantile(0.9)), ms(r.lat.Quantile(0.99)), ms(r.lat.Quantile(0.999)), ms(r.lat.Max()))
	fmt.Fprintf(w, "queue lag    scheduler behind due time: p50 %s  p99 %s  max %s\n",
		ms(r.lag.Quantile(0.5)), ms(r.lag.Quantile(0.99)), ms(r.lag.Max()))
	printMemory(w, c.pid, mem)
	return verdict(w, r, errs, achieved, rate)
}

// printAnswers prints answer counts by status, then by "error" code.
func printAnswers(w io.Writer, t *tally) {
	keys := slices.SortedFunc(maps.Keys(t.answers), func(a, b statusCode) int {
		return cmp.Or(cmp.Compare(a.status, b.status), cmp.Compare(a.code, b.code))
	})
	byStatus := map[int]int64{}
	for _, k := range keys {
		byStatus[k.status] += t.answers[k]
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "answers\tSTATUS\tERROR CODE\tCOUNT\t")
	for i, k := range keys {
		if i == 0 || keys[i-1].status != k.status {
			fmt.Fprintf(tw, "\t%d\t(all)\t%d\t\n", k.status, byStatus[k.status])
		}
		code := k.code
		if code == "" {
			code = "(update offered)"
		}
		fmt.Fprintf(tw, "\t\t%s\t%d\t\n", code, t.answers[k])
	}
	tw.Flush()
}

// printMemory prints the server's memory at each point.
func printMemory(w io.Writer, pid int, mem []memPoint) {
	if pid == 0 {
		fmt.Fprintln(w, "memory       not measured (no --pid)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "memory pid %d\tWHEN\tVmRSS\tVmHWM\t\n", pid)
	for _, p := range mem {
		if p.err != nil {
			fmt.Fprintf(tw, "\t%s\t%v\t\t\n", p.when, p.err)
			continue
		}
		fmt.Fprintf(tw, "\t%s\t%s\t%s\t\n", p.when, mib(p.mem.rss), mib(p.mem.hwm))
	}
	tw.Flush()
}

// verdict prints and returns whether the run kept within the bounds.
func verdict(w io.Writer, r *outcome, errs int64, achieved, rate float64) bool {
	var share float64
	if sent := r.sent; sent > 0 {
		share = float64(errs) / float64(sent)
	}
	pct := 100 * achieved / rate
	ok := share <= maxErrorShare && pct >= minAchievedPct && !r.interrupted
	mark := map[bool]string{true: "ok", false: "FAIL"}
	fmt.Fprintf(w, "verdict      %s: errors (transport + 5xx) %d = %.3f %% (bound %.1f %%, %s), achieved %.1f %% of target (bound %d %%, %s)",
		mark[ok], errs, 100*share, 100*maxErrorShare, mark[share <= maxErrorShare], pct, minAchievedPct, mark[pct >= minAchievedPct])
	if r.interrupted {
		fmt.Fprint(w, ", interrupted")
	}
	fmt.Fprintln(w)
	return ok
}

// ms formats d in milliseconds with three decimals.
func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/1e6) }
