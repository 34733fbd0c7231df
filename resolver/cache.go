package resolver

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// object is one tree object held by an [Origin]. Objects are never changed
// after they are made: a revalidation replaces the cache entry with a copy.
type object struct {
	name string
	body []byte
	// etag and lastMod are the origin's validators, sent back on
	// revalidation (RFC 9110 §13.1); mod is lastMod parsed.
	etag, lastMod string
	mod           time.Time
	// validated is when the origin last vouched for body (200 or 304).
	validated time.Time
}

// objectOverhead approximates the bytes an entry costs beyond its body and
// name, so that many tiny objects still count against the bound.
const objectOverhead = 256

func (o *object) cost() int64 {
	return int64(len(o.body)+len(o.name)+len(o.etag)+len(o.lastMod)) + objectOverhead
}

// lru is a byte-bounded least-recently-used cache of objects, safe for
// concurrent use.
type lru struct {
	mu        sync.Mutex
	max       int64
	size      int64
	ll        *list.List // front is most recently used; values are *object
	items     map[string]*list.Element
	evictions uint64
}

func newLRU(max int64) *lru {
	return &lru{max: max, ll: list.New(), items: map[string]*list.Element{}}
}

// get returns the object named name and marks it used, or nil.
func (c *lru) get(name string) *object {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.items[name]
	if el == nil {
		return nil
	}
	c.ll.MoveToFront(el)
	return el.Value.(*object)
}

// add stores o, replacing an object of the same name, and evicts the least
// recently used objects until the cache fits its bound. It reports whether
// o was kept: an object costing more than a quarter of the bound is not,
// so one large bundle cannot flush everything else.
func (c *lru) add(o *object) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.items[o.name]; el != nil {
		c.unlink(el)
	}
	if o.cost() > c.max/4 {
		return false
	}
	c.items[o.name] = c.ll.PushFront(o)
	c.size += o.cost()
	for c.size > c.max {
		c.unlink(c.ll.Back())
		c.evictions++
	}
	return true
}

// remove drops the object named name, if any.
func (c *lru) remove(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.items[name]; el != nil {
		c.unlink(el)
	}
}

func (c *lru) unlink(el *list.Element) {
	o := c.ll.Remove(el).(*object)
	delete(c.items, o.name)
	c.size -= o.cost()
}

// usage returns the bytes and objects held and the evictions so far.
func (c *lru) usage() (bytes int64, objects int, evictions uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size, len(c.items), c.evictions
}

// flight runs at most one fetch per key at a time; callers that arrive
// while a fetch runs wait for its result (the idea of
// golang.org/x/sync/singleflight, which this module does not depend on).
type flight struct {
	mu    sync.Mutex
	calls map[string]*call
}

type call struct {
	done chan struct{}
	obj  *fetched
	err  error
}

// do returns the result of fn for key, starting fn in its own goroutine
// unless a call for key is already running. shared reports that the caller
// joined a call another caller started. A caller whose ctx ends stops
// waiting; the call itself runs on until fn returns, which fn must bound
// (the origin's per-request timeout), so a cancelled device request never
// fails the fetch for the callers still waiting on it.
func (g *flight) do(ctx context.Context, key string, fn func() (*fetched, error)) (obj *fetched, shared bool, err error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*call{}
	}
	c, shared := g.calls[key]
	if !shared {
		c = &call{done: make(chan struct{})}
		g.calls[key] = c
		go func() {
			c.obj, c.err = fn()
			g.mu.Lock()
			delete(g.calls, key)
			g.mu.Unlock()
			close(c.done)
		}()
	}
	g.mu.Unlock()
	select {
	case <-c.done:
		return c.obj, shared, c.err
	case <-ctx.Done():
		return nil, shared, ctx.Err()
	}
}
