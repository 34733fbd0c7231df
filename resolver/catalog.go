package resolver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/capstatic/capstatic/manifest"
)

// ErrUnknownApp is returned by [Catalog.App] for an app the tree does not
// hold.
var ErrUnknownApp = errors.New("unknown app")

// ErrInvalidPointer is wrapped by a reload failure for a pointer that does
// not decode or names another app.
var ErrInvalidPointer = errors.New("invalid pointer")

// Default catalog timings.
const (
	DefaultTTL         = 2 * time.Second
	DefaultNegativeTTL = 10 * time.Second
)

// Catalog loads apps from a [Source] and keeps the last good state of each.
// A pointer is re-read at most once per TTL; a state is loaded only when
// the pointer names a new one. When a reload fails (unreadable origin,
// digest mismatch, invalid document, refused signature) the previous state
// keeps serving and the error is logged.
type Catalog struct {
	src  Source
	urls URLs
	log  *slog.Logger
	// TTL is how long a pointer is trusted before it is re-read.
	TTL time.Duration
	// NegativeTTL is how long an unknown app is remembered as unknown.
	NegativeTTL time.Duration
	// Trust, when set, checks every pointer before its state is loaded
	// (signatures, sequence numbers); see [Verifier].
	Trust Verifier
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observe, when set, is told the outcome of every reload of a known
	// app: whether a new state was loaded, or why the reload failed.
	Observe func(app string, changed bool, err error)

	mu   sync.RWMutex
	apps map[string]*entry
}

// Verifier decides whether a pointer may replace the current one.
type Verifier interface {
	Check(p *manifest.Pointer, current *manifest.Pointer) error
}

type entry struct {
	snap atomic.Pointer[snapshot]
	mu   sync.Mutex // held while reloading; guards app, ptr, missing
	app  *App
	ptr  *manifest.Pointer
	// missing is kept for reload's bookkeeping; requests read snap.
	missing bool
}

// NewCatalog returns a catalog over src that builds answer URLs with urls.
// A nil logger discards.
func NewCatalog(src Source, urls URLs, log *slog.Logger) *Catalog {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Catalog{src: src, urls: urls, log: log, TTL: DefaultTTL, NegativeTTL: DefaultNegativeTTL,
		apps: map[string]*entry{}}
}

func (c *Catalog) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// App returns the current state of app, loading or refreshing it when its
// pointer is older than the TTL. It returns [ErrUnknownApp] when the tree
// has no such app and no earlier state is known.
func (c *Catalog) App(ctx context.Context, id string) (*App, error) {
	if !manifest.ValidAppID(id) {
		return nil, ErrUnknownApp
	}
	c.mu.RLock()
	e := c.apps[id]
	c.mu.RUnlock()
	if e == nil {
		c.mu.Lock()
		if e = c.apps[id]; e == nil {
			e = &entry{}
			c.apps[id] = e
		}
		c.mu.Unlock()
	}
	return c.refresh(ctx, id, e)
}

// refresh returns the app's current state. A fresh snapshot is returned
// without locking. A stale one is reloaded by the first request that
// notices; requests arriving during that reload get the last good state
// instead of waiting, and only a first load (or an unknown app) blocks.
func (c *Catalog) refresh(ctx context.Context, id string, e *entry) (*App, error) {
	now := c.now()
	if sn := e.snap.Load(); sn.fresh(now, c) {
		return sn.result()
	} else if sn != nil && sn.app != nil && !e.mu.TryLock() {
		return sn.app, nil
	} else if sn == nil || sn.app == nil {
		e.mu.Lock()
	}
	defer e.mu.Unlock()
	if sn := e.snap.Load(); sn.fresh(now, c) {
		return sn.result() // loaded while we waited for the lock
	}
	before := e.app
	err := c.reload(ctx, id, e)
	if c.Observe != nil && !(errors.Is(err, fs.ErrNotExist) && e.app == nil) {
		c.Observe(id, e.app != before, err)
	}
	next := &snapshot{checked: now}
	if cur := e.snap.Load(); cur != nil {
		next.app = cur.app
	}
	switch {
	case err == nil:
		next.app = e.app
	case errors.Is(err, fs.ErrNotExist) && e.app == nil:
		next.missing = true
	default:
		c.log.Error("reload app state, keeping the last good one", "app", id, "err", err)
	}
	e.snap.Store(next)
	return next.result()
}

// snapshot is what requests read without locking: the app's last good
// state and when its pointer was last checked.
type snapshot struct {
	app     *App
	checked time.Time
	missing bool
}

func (sn *snapshot) fresh(now time.Time, c *Catalog) bool {
	if sn == nil {
		return false
	}
	ttl := c.TTL
	if sn.missing {
		ttl = c.NegativeTTL
	}
	return now.Sub(sn.checked) < ttl
}

func (sn *snapshot) result() (*App, error) {
	if sn.app == nil {
		return nil, ErrUnknownApp
	}
	return sn.app, nil
}

func (c *Catalog) reload(ctx context.Context, id string, e *entry) error {
	raw, err := c.read(ctx, manifest.PointerPath(id), manifest.MaxPointerSize)
	if err != nil {
		return err
	}
	p, err := manifest.DecodePointer(raw)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPointer, err)
	}
	if p.App != id {
		return fmt.Errorf("%w: pointer of %s names app %q", ErrInvalidPointer, id, p.App)
	}
	if e.ptr != nil && p.State == e.ptr.State && p.Seq == e.ptr.Seq {
		// Unchanged, but still checked: an origin frozen on a pointer
		// that has since expired is reported (the state keeps serving).
		if c.Trust != nil {
			if err := c.Trust.Check(p, e.ptr); err != nil {
				return err
			}
			e.ptr = p
		}
		return nil
	}
	if c.Trust != nil {
		if err := c.Trust.Check(p, e.ptr); err != nil {
			return err
		}
	}
	st, err := c.loadState(ctx, p)
	if err != nil {
		return err
	}
	app, err := NewApp(st, c.urls)
	if err != nil {
		return err
	}
	e.app, e.ptr, e.missing = app, p, false
	c.log.Info("loaded app state", "app", id, "seq", p.Seq, "state", p.State.Short())
	return nil
}

func (c *Catalog) loadState(ctx context.Context, p *manifest.Pointer) (*manifest.State, error) {
	raw, err := c.read(ctx, manifest.StatePath(p.App, p.State), p.StateSize)
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) != p.StateSize {
		return nil, fmt.Errorf("state of %s: %w", p.App, manifest.ErrSizeMismatch)
	}
	if manifest.Sum(raw) != p.State {
		return nil, fmt.Errorf("state of %s: %w", p.App, manifest.ErrDigestMismatch)
	}
	st, err := manifest.DecodeState(raw)
	if err != nil {
		return nil, err
	}
	if st.App != p.App || st.Seq != p.Seq {
		return nil, fmt.Errorf("state of %s does not match its pointer (app %q, seq %d)", p.App, st.App, st.Seq)
	}
	return st, nil
}

func (c *Catalog) read(ctx context.Context, name string, max int64) ([]byte, error) {
	f, err := c.src.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// A source that served a cached copy because its origin failed (see
	// [Origin]) says so: the catalog keeps its own last good state
	// instead, and the failure reaches Observe.
	if s, ok := f.(interface{ Stale() error }); ok {
		if err := s.Stale(); err != nil {
			return nil, err
		}
	}
	b, err := manifest.ReadAll(f, max)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

// Pointer returns the pointer of the app's current state, or nil.
func (c *Catalog) Pointer(id string) *manifest.Pointer {
	c.mu.RLock()
	e := c.apps[id]
	c.mu.RUnlock()
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ptr
}
