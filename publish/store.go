package publish

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrConflict is returned by [Swapper.Swap] when the object changed since the
// caller read it: another publisher won the race.
var ErrConflict = errors.New("conflicting concurrent write")

// Store is where a tree is written. Keys are '/'-separated tree paths such as
// "com.example.app/current.json"; an S3 key is exactly the tree path under the
// store's prefix, so any store can be copied to a directory and served.
//
// Implementations are safe for concurrent use. A missing object is reported
// with an error wrapping [fs.ErrNotExist].
type Store interface {
	// Put writes the object at key from r, replacing any previous one. size
	// is the length of r, or -1 when unknown. A reader never sees a partly
	// written object: it sees the old bytes or the new ones. Put is
	// idempotent: writing the same bytes again is harmless.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Open returns the object's content. The caller closes it.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat returns the object's size and entity tag.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the object. Deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
}

// Info describes a stored object.
type Info struct {
	Size int64
	// ETag identifies the object's current content; it changes whenever the
	// content does.
	ETag    string
	ModTime time.Time
}

// Swapper is a [Store] that can replace an object only if it is unchanged,
// the compare-and-swap on which concurrent publishers rely.
type Swapper interface {
	// Swap writes key from r only if the object's current ETag is ifMatch,
	// or, when ifMatch is "", only if the object does not exist. Otherwise it
	// returns an error wrapping [ErrConflict] and writes nothing.
	Swap(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) error
}

// Lister is a [Store] that can enumerate its objects.
type Lister interface {
	// List calls fn for every object whose key starts with prefix, in no
	// particular order, stopping at the first error fn returns.
	List(ctx context.Context, prefix string, fn func(key string, info Info) error) error
}

// Purger is implemented by a CDN integration that can drop cached copies of
// URLs after their objects changed.
type Purger interface {
	Purge(ctx context.Context, urls []string) error
}
