package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress prints how a publish's uploads go, on stderr so that stdout
// keeps the results. On a terminal it redraws one status line (objects
// written and present, bytes, rate, elapsed time) at most ten times a
// second and clears it at the end. Elsewhere (CI logs, pipes, or when CI is
// set) it prints one line every ten seconds, so that short publishes print
// nothing and long ones show they are alive. --quiet and --json print no
// progress at all: newProgress returns nil, whose methods do nothing.
type progress struct {
	w     io.Writer
	live  bool
	every time.Duration
	now   func() time.Time

	mu               sync.Mutex
	start, last      time.Time
	written, skipped int
	bytes            int64
	drawn            bool
}

// newProgress returns the progress printer for a command's output, or nil
// when none is wanted.
func newProgress(e *env, quiet bool) *progress {
	if quiet {
		return nil
	}
	p := &progress{w: e.stderr, live: isTerminal(e), every: 10 * time.Second, now: time.Now}
	if p.live {
		p.every = 100 * time.Millisecond
	}
	p.start = p.now()
	p.last = p.start
	return p
}

// isTerminal reports whether stderr is a terminal that can redraw a line:
// a character device, TERM not "dumb", and CI not set.
func isTerminal(e *env) bool {
	f, ok := e.stderr.(*os.File)
	if !ok || e.getenv("CI") != "" || e.getenv("TERM") == "dumb" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// object is [publish.Publisher.Progress]: one object was uploaded, or was
// already present.
func (p *progress) object(_ string, size int64, written bool) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if written {
		p.written++
		p.bytes += size
	} else {
		p.skipped++
	}
	if now := p.now(); now.Sub(p.last) >= p.every {
		p.last = now
		p.draw(now)
	}
}

func (p *progress) draw(now time.Time) {
	elapsed := now.Sub(p.start)
	rate := float64(p.bytes) / max(elapsed.Seconds(), 0.001)
	line := fmt.Sprintf("uploading: %d objects written (%s, %s/s), %d already present, %s",
		p.written, bytesText(float64(p.bytes)), bytesText(rate), p.skipped, elapsed.Round(time.Second))
	if p.live {
		fmt.Fprint(p.w, "\r\x1b[K"+line)
		p.drawn = true
		return
	}
	fmt.Fprintln(p.w, line)
}

// done clears the status line; the command prints its result next.
func (p *progress) done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

// bytesText formats a byte count with a binary unit.
func bytesText(n float64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%.0f B", n)
	}
	i := -1
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", n, units[i])
}
