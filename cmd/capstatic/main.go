// Command capstatic publishes Capacitor web bundles to a static tree and
// serves the @capgo/capacitor-updater protocol from it.
//
// Run "capstatic help" for the list of commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit codes (see "capstatic help").
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitConflict = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"publish", "build a web folder into a bundle and publish it to a channel", runPublish},
		{"serve", "answer the plugin's /updates, /stats and /channel_self from a tree", runServe},
		{"watch", "publish a web folder on every change and serve it to debug builds", runWatch},
		{"channel", "create, list, delete channels and change their settings", runChannel},
		{"rollout", "offer a bundle to a share of a channel's devices", runRollout},
		{"promote", "give a channel exactly the bundle another channel has", runPromote},
		{"rollback", "return a channel to an earlier entry of its history", runRollback},
		{"history", "print a channel's history", runHistory},
		{"overrides", "pin devices to channels", runOverrides},
		{"explain", "replay one device request offline and say which rule decided", runExplain},
		{"status", "print apps, channels, rollouts and native builds", runStatus},
		{"verify", "re-read a tree and check every pointer, state, record and object", runVerify},
		{"gc", "delete objects no channel needs any more (bundles beyond --keep, old states)", runGC},
		{"native", "register native app-store builds and gate bundles by native compatibility", runNative},
		{"keys", "create the RSA keys of end-to-end bundle encryption", runKeys},
		{"signing-key", "create the Ed25519 key that signs app pointers (serve --signing-pub)", runSigningKeys},
		{"resign", "renew the signature and expiry of an app's pointer", runResign},
		{"decrypt", "decrypt and verify an encrypted bundle file or published version", runDecrypt},
		{"version", "print the version", func(_ context.Context, e *env, _ []string) error {
			fmt.Fprintln(e.stdout, "capstatic", version)
			return nil
		}},
	}
}

// env carries what a command may touch: arguments, streams and the
// process environment.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// Run executes the command line args and returns the exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return exitCode(e, c.name, c.run(ctx, e, args[1:]))
		}
	}
	fmt.Fprintf(stderr, "capstatic: unknown command %q (run \"capstatic help\")\n", args[0])
	return exitUsage
}

// usageError marks an error in the command line.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func exitCode(e *env, name string, err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, pflag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "capstatic %s: %v\n", name, err)
		return exitUsage
	case errors.Is(err, errConflict):
		fmt.Fprintf(e.stderr, "capstatic %s: %v\n", name, err)
		fmt.Fprintf(e.stderr, "capstatic %s: another publisher changed the app at the same time; this change is not live and nothing it wrote is in use: run it again\n", name)
		return exitConflict
	}
	fmt.Fprintf(e.stderr, "capstatic %s: %v\n", name, err)
	return exitFailure
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "capstatic — self-hosted live updates for Capacitor apps\n\nUsage: capstatic COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run "capstatic COMMAND --help" for a command's flags. Every flag also reads an
environment variable: --public-url is CAPSTATIC_PUBLIC_URL, and so on.

EXIT STATUS
  0  success (also for --help)
  1  failure
  2  usage error
  3  conflict: another publisher changed the app at the same time; retry
`)
}
