package publish

import (
	"archive/zip"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/klauspost/compress/flate"

	"github.com/capstatic/capstatic/delta"
	"github.com/capstatic/capstatic/manifest"
)

// zipEpoch is the modification time of every zip entry, so the same files
// always give the same zip bytes.
var zipEpoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// builtZip is a zip written to a temporary file.
type builtZip struct {
	path   string
	size   int64
	sha256 manifest.Digest
	crc32  string
}

func (z *builtZip) open() (*os.File, error) { return os.Open(z.path) }
func (z *builtZip) remove()                 { os.Remove(z.path) }

// writeZip writes the scanned files of fsys as a deterministic zip into a
// temporary file in dir: entries in name order, files at the zip root, a
// fixed time stamp and mode, deflate at a fixed level. A file whose content
// changed since it was scanned fails the build.
func writeZip(ctx context.Context, fsys fs.FS, entries []delta.Entry, dir string) (*builtZip, error) {
	f, err := os.CreateTemp(dir, "capstatic-zip-*")
	if err != nil {
		return nil, err
	}
	z := &builtZip{path: f.Name()}
	h, crc := manifest.NewHasher(), crc32.NewIEEE()
	zw := zip.NewWriter(io.MultiWriter(f, h, crc))
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.DefaultCompression)
	})
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			f.Close()
			z.remove()
			return nil, err
		}
		if err := addZipEntry(zw, fsys, e); err != nil {
			f.Close()
			z.remove()
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		f.Close()
		z.remove()
		return nil, err
	}
	if err := f.Close(); err != nil {
		z.remove()
		return nil, err
	}
	z.size, z.sha256, z.crc32 = h.Size(), h.Sum(), fmt.Sprintf("%08x", crc.Sum32())
	return z, nil
}

func addZipEntry(zw *zip.Writer, fsys fs.FS, e delta.Entry) error {
	hdr := &zip.FileHeader{Name: e.Name, Method: zip.Deflate, Modified: zipEpoch}
	hdr.SetMode(0o644)
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	src, err := fsys.Open(e.Name)
	if err != nil {
		return &delta.FileError{Op: "zip", Path: e.Name, Err: err}
	}
	defer src.Close()
	h := manifest.NewHasher()
	if _, err := io.Copy(io.MultiWriter(w, h), src); err != nil {
		return &delta.FileError{Op: "zip", Path: e.Name, Err: err}
	}
	if h.Size() != e.Size || h.Sum() != e.SHA256 {
		return &delta.FileError{Op: "zip", Path: e.Name, Err: delta.ErrChanged}
	}
	return nil
}
