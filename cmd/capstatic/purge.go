package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
	"github.com/capstatic/capstatic/publish/cloudflare"
)

// purge drops the cached copies of the pointers a command changed, when
// --cloudflare-zone is set: an app's current.json and the tree's
// index.json, at --purge-url. Every other object is immutable and named by
// its digest, so a cached copy of it is never stale.
type purge struct {
	// ctx is the command's context, kept because the purge runs where the
	// command reports its result, which takes no context.
	ctx     context.Context
	purger  publish.Purger
	base    string // --purge-url, without a trailing slash
	watched *watchedStore
}

// setupPurge checks the purge flags and, when a zone is given, wraps store
// so that the pointers written through it are recorded. The token comes
// from --cloudflare-token (CAPSTATIC_CLOUDFLARE_TOKEN) or
// CLOUDFLARE_API_TOKEN.
func (s *storeFlags) setupPurge(ctx context.Context, e *env, store publish.Store) (publish.Store, error) {
	if s.cfZone == "" {
		return store, nil
	}
	if s.cfToken == "" {
		s.cfToken = e.getenv("CLOUDFLARE_API_TOKEN")
	}
	if s.cfToken == "" {
		return nil, usagef("--cloudflare-zone needs --cloudflare-token (or CLOUDFLARE_API_TOKEN)")
	}
	u, err := url.Parse(s.purgeBase)
	if s.purgeBase == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		return nil, usagef("--cloudflare-zone needs --purge-url, the public http(s) base URL of the tree (such as https://updates.example.com)")
	}
	p, err := cloudflare.New(cloudflare.Config{Zone: s.cfZone, Token: s.cfToken, BaseURL: s.cfBaseURL})
	if err != nil {
		return nil, usageError{err}
	}
	w, err := watch(store)
	if err != nil {
		return nil, err
	}
	s.purge = &purge{ctx: ctx, purger: p, base: strings.TrimSuffix(s.purgeBase, "/"), watched: w}
	return w, nil
}

// purgeChanged purges the pointers written since the store was opened, and
// reports it on stdout (unless quiet; as {"type":"purge"} with asJSON). A
// failed purge is an error (exit status 1) that says the change is live.
func (s *storeFlags) purgeChanged(e *env, asJSON, quiet bool) error {
	if s.purge == nil {
		return nil
	}
	keys := s.purge.watched.changed()
	if len(keys) == 0 {
		return nil
	}
	urls := make([]string, len(keys))
	for i, k := range keys {
		urls[i] = s.purge.base + "/" + k
	}
	if err := s.purge.purger.Purge(s.purge.ctx, urls); err != nil {
		return fmt.Errorf("the change is live, but the cache purge failed, so Cloudflare may serve the previous %s for up to its cache TTL (purge %s by hand, or run the command again): %w",
			strings.Join(keys, " and "), strings.Join(urls, " "), err)
	}
	switch {
	case asJSON:
		return json.NewEncoder(e.stdout).Encode(map[string]any{"type": "purge", "zone": s.cfZone, "urls": urls})
	case !quiet:
		fmt.Fprintf(e.stdout, "  purged from Cloudflare's cache: %s\n", strings.Join(urls, " "))
	}
	return nil
}

// watchedStore records the pointer keys (current.json, index.json) written
// through it. It is a [publish.Swapper] and [publish.Lister] like the store
// it wraps, which must be both: the publisher finds those by type
// assertion, and hiding them would turn conditional pointer writes into
// unconditional ones.
type watchedStore struct {
	publish.Store
	sw publish.Swapper
	ls publish.Lister

	mu   sync.Mutex
	keys []string
}

func watch(store publish.Store) (*watchedStore, error) {
	sw, ok1 := store.(publish.Swapper)
	ls, ok2 := store.(publish.Lister)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("cache purges need a store with conditional writes and listing; %T has not", store)
	}
	return &watchedStore{Store: store, sw: sw, ls: ls}, nil
}

func (w *watchedStore) note(key string) {
	if key != manifest.IndexPath && !strings.HasSuffix(key, "/current.json") {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !slices.Contains(w.keys, key) {
		w.keys = append(w.keys, key)
	}
}

// changed returns the pointer keys written so far, sorted.
func (w *watchedStore) changed() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Sorted(slices.Values(w.keys))
}

func (w *watchedStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	err := w.Store.Put(ctx, key, r, size)
	if err == nil {
		w.note(key)
	}
	return err
}

func (w *watchedStore) Swap(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) error {
	err := w.sw.Swap(ctx, key, r, size, ifMatch)
	if err == nil {
		w.note(key)
	}
	return err
}

func (w *watchedStore) List(ctx context.Context, prefix string, fn func(string, publish.Info) error) error {
	return w.ls.List(ctx, prefix, fn)
}
