package resolver

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// OverrideFile is a [Lookup] backed by an override file that is reloaded
// when it changes. A file that fails to parse keeps the previous table and
// logs the error.
type OverrideFile struct {
	path  string
	log   *slog.Logger
	table atomic.Pointer[OverrideTable]
}

// OpenOverrideFile loads path. The initial load must succeed.
func OpenOverrideFile(path string, log *slog.Logger) (*OverrideFile, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &OverrideFile{path: path, log: log}
	if err := o.load(); err != nil {
		return nil, err
	}
	return o, nil
}

// Lookup implements [Lookup].
func (o *OverrideFile) Lookup(app, device string) (string, bool) {
	return (*o.table.Load()).Lookup(app, device)
}

// Len returns the number of entries currently loaded.
func (o *OverrideFile) Len() int { return len(*o.table.Load()) }

func (o *OverrideFile) load() error {
	b, err := os.ReadFile(o.path)
	if err != nil {
		return err
	}
	t, err := ParseOverrides(b)
	if err != nil {
		return err
	}
	o.table.Store(&t)
	return nil
}

// Watch reloads the file whenever it changes until ctx is done. It watches
// the containing folder, so editors that replace the file by rename are
// seen, and debounces bursts of events. It returns when ctx is done.
func (o *OverrideFile) Watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(o.path)); err != nil {
		return err
	}
	var timer <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-w.Events:
			if filepath.Clean(ev.Name) == filepath.Clean(o.path) {
				timer = time.After(50 * time.Millisecond)
			}
		case err := <-w.Errors:
			o.log.Error("watch overrides", "path", o.path, "err", err)
		case <-timer:
			if err := o.load(); err != nil {
				o.log.Error("reload overrides, keeping the previous ones", "path", o.path, "err", err)
			} else {
				o.log.Info("reloaded overrides", "path", o.path, "entries", o.Len())
			}
		}
	}
}
