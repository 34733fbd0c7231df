package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// newFlags returns a flag set for a subcommand with its usage text.
func newFlags(e *env, name, synopsis string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: capstatic %s\n\nFlags:\n%s", synopsis, fs.FlagUsages())
	}
	return fs
}

// parse parses args, then fills every flag not given on the command line
// from its environment twin CAPSTATIC_<NAME> (dashes become underscores).
func parse(e *env, fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		name := "CAPSTATIC_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := e.getenv(name); v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = usagef("%s: %v", name, serr)
			}
		}
	})
	return err
}
