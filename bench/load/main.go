// Command load puts a running "capstatic serve" under a steady load of
// device update checks and reports whether it keeps up: errors, latency
// and the server's memory. It is not part of "make test".
//
//	go run ./bench/load --url http://127.0.0.1:PORT/updates --pid PID [--duration 60s] [--rate 0]
//	bash bench/load.sh [FLAGS]   (builds, publishes and serves a tree, then runs this)
//
// The run has two steps:
//
//  1. With --rate 0 (the default), calibration: --workers closed loops,
//     each on its keep-alive connection sending its next request as soon
//     as the last is answered, for --calibrate. Answers per second is the
//     measured maximum, of this generator and server on this machine
//     together, since both share its CPUs on loopback.
//  2. The open-loop run: --fraction (80 %) of that maximum, or --rate,
//     for --duration. Request k is due at start + k/rate whatever happened
//     to the earlier ones; it joins a queue the same --workers connections
//     drain, and its latency counts from its due time, so queueing in the
//     server or the generator is measured, not hidden (coordinated
//     omission). At most --max-inflight requests are queued or in flight;
//     one due while the bound is hit is not sent and counts as dropped by
//     the generator. Keeping the connections fixed keeps the generator's
//     cost per request the one calibration measured, rather than opening
//     connections when the server falls behind.
//
// Bodies are built up front (--bodies, seeded by --seed): Gen N devices
// with random lower-case UUIDs on Android and iOS, most up to date, many
// getting the update, a few Gen L 10.0.0 devices without defaultChannel,
// and a few bad bodies that must get a 400. Before any load, one body of
// each kind is sent and its answer checked, so a tree other than the one
// bench/load.sh publishes (--app, --latest, --native) fails fast.
//
// The report gives the target and achieved rates, answers by HTTP status
// and "error" code, answers that differ from the checked ones, transport
// errors, latency quantiles, and the server's VmRSS and VmHWM before the
// load, after calibration and at the end (--pid; 0 skips them).
//
// The exit status is 1 when transport errors plus 5xx answers exceed
// 0.1 % of the requests sent, or the achieved rate is below 95 % of the
// target, or the run fails or is interrupted; 2 for a usage error; else 0.
// Only loopback URLs are accepted.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"time"
)

// Bounds of a run, so a typo can't start an endless or unbounded one.
const (
	maxDuration  = time.Hour
	maxCalibrate = time.Minute
	maxRate      = 1e6
	maxInflight  = 20000
	maxBodies    = 1e6
)

// config is what the command line sets.
type config struct {
	url                  string
	duration, calibrate  time.Duration
	timeout              time.Duration
	rate, fraction       float64
	workers, maxInflight int
	pid                  int
	bodies               int
	seed                 uint64
	mix                  mix
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintf(stderr, "load: %v\n", err)
		}
		return 2
	}
	ok, err := load(ctx, c, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "load: %v\n", err)
		return 1
	}
	if !ok {
		return 1
	}
	return 0
}

// errUsage is a usage error the flag package already reported.
var errUsage = errors.New("")

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080/updates", "the resolver's update URL (loopback only)")
	fs.DurationVar(&c.duration, "duration", 60*time.Second, "length of the open-loop run")
	fs.Float64Var(&c.rate, "rate", 0, "requests per second of the run; 0 measures the maximum first and uses --fraction of it")
	fs.Float64Var(&c.fraction, "fraction", 0.8, "share of the measured maximum the run targets")
	fs.DurationVar(&c.calibrate, "calibrate", 5*time.Second, "length of the maximum-rate measurement")
	fs.IntVar(&c.workers, "workers", 64, "keep-alive connections, each a loop sending one request at a time")
	fs.IntVar(&c.maxInflight, "max-inflight", 1000, "bound of requests queued or in flight during the run (≥ --workers)")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Second, "per-request timeout; a request past it is a transport error")
	fs.IntVar(&c.pid, "pid", 0, "the server's process id, for its memory (0: not reported)")
	fs.IntVar(&c.bodies, "bodies", 10000, "distinct request bodies built up front")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the bodies' device ids and order")
	fs.StringVar(&c.mix.app, "app", "com.example.capstatic", "app id the devices send")
	fs.StringVar(&c.mix.latest, "latest", "1.0.1", "version the channel offers (up-to-date devices run it)")
	fs.StringVar(&c.mix.native, "native", "1.0.0", "the devices' native version, older than --latest")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, errUsage
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c, c.check()
}

// check enforces the bounds that keep a run finite and local.
func (c config) check() error {
	switch {
	case c.duration <= 0 || c.duration > maxDuration:
		return fmt.Errorf("--duration %v: want (0, %v]", c.duration, maxDuration)
	case c.rate < 0 || c.rate > maxRate:
		return fmt.Errorf("--rate %v: want [0, %v]", c.rate, maxRate)
	case c.rate == 0 && (c.calibrate <= 0 || c.calibrate > maxCalibrate):
		return fmt.Errorf("--calibrate %v: want (0, %v]", c.calibrate, maxCalibrate)
	case c.fraction <= 0 || c.fraction > 1:
		return fmt.Errorf("--fraction %v: want (0, 1]", c.fraction)
	case c.workers < 1 || c.workers > maxInflight:
		return fmt.Errorf("--workers %d: want [1, %d]", c.workers, maxInflight)
	case c.maxInflight < c.workers || c.maxInflight > maxInflight:
		return fmt.Errorf("--max-inflight %d: want [--workers, %d]", c.maxInflight, maxInflight)
	case c.timeout <= 0 || c.timeout > time.Minute:
		return fmt.Errorf("--timeout %v: want (0, 1m]", c.timeout)
	case c.bodies < len(kinds) || c.bodies > maxBodies:
		return fmt.Errorf("--bodies %d: want [%d, %d]", c.bodies, len(kinds), int(maxBodies))
	case c.pid < 0:
		return fmt.Errorf("--pid %d: want a process id", c.pid)
	}
	return checkLoopback(c.url)
}

// checkLoopback accepts an http URL whose host is, or resolves only to,
// loopback addresses.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("--url %q: want http://HOST:PORT/PATH", raw)
	}
	ips := []net.IP{net.ParseIP(u.Hostname())}
	if ips[0] == nil {
		if ips, err = net.LookupIP(u.Hostname()); err != nil {
			return fmt.Errorf("--url: %w", err)
		}
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("--url %q: %v is not a loopback address; this generator only loads the local machine", raw, ip)
		}
	}
	return nil
}

// load runs the phases and reports; ok is false when a bound is broken.
func load(ctx context.Context, c config, stdout, stderr io.Writer) (ok bool, err error) {
	reqs, err := bodies(c.mix, c.bodies, c.seed)
	if err != nil {
		return false, err
	}
	t := &target{url: c.url, client: newClient(c.workers, c.timeout), reqs: reqs}
	defer t.client.CloseIdleConnections()
	if err := preflight(t); err != nil {
		return false, err
	}
	var mem []memPoint
	snap := func(when string) {
		if c.pid != 0 {
			m, err := readMemory(c.pid)
			mem = append(mem, memPoint{when, m, err})
		}
	}
	snap("before load")
	var cal *calibration
	rate := c.rate
	if rate == 0 {
		fmt.Fprintf(stderr, "load: measuring the maximum rate: %d closed loops for %v\n", c.workers, c.calibrate)
		top, tl := calibrate(ctx, t, c.workers, c.calibrate)
		cal = &calibration{rate: top, tally: tl}
		if rate = top * c.fraction; rate < 1 {
			return false, fmt.Errorf("measured maximum %.1f/s: the server barely answers", top)
		}
		snap("after calibration")
	}
	fmt.Fprintf(stderr, "load: open loop at %.0f/s for %v\n", rate, c.duration)
	r := openLoop(ctx, t, rate, c.duration, c.workers, c.maxInflight)
	snap("end")
	return report(stdout, c, cal, rate, r, mem), nil
}

// preflight sends one body of each kind and checks its answer, so the
// run measures the tree it was meant for.
func preflight(t *target) error {
	var errs []error
	var buf bytes.Buffer
	for k, kd := range kinds {
		for _, req := range t.reqs {
			if req.kind != k {
				continue
			}
			a := t.do(req, &buf)
			switch {
			case a.err != nil:
				return fmt.Errorf("preflight: %w", a.err)
			case a.status != kd.status || a.code != kd.code:
				errs = append(errs, fmt.Errorf("preflight %s: got %d %q, want %d %q",
					kd.name, a.status, a.code, kd.status, kd.code))
			}
			break
		}
	}
	return errors.Join(errs...)
}
