package resolver

import (
	"context"
	"io/fs"
)

// Source reads a published tree. Implementations are safe for concurrent
// use; a missing object is an error wrapping [fs.ErrNotExist]. The bytes a
// Source returns are untrusted: callers bound every read and verify
// digests.
type Source interface {
	// Open opens the object at the '/'-separated tree path name. The
	// returned file is an io.ReadSeeker when the source supports ranges.
	Open(ctx context.Context, name string) (fs.File, error)
}

// FS adapts an [fs.FS] (os.DirFS for a folder, fstest.MapFS in tests) to a
// [Source].
func FS(fsys fs.FS) Source { return fsSource{fsys} }

type fsSource struct{ fsys fs.FS }

func (s fsSource) Open(ctx context.Context, name string) (fs.File, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.fsys.Open(name)
}
