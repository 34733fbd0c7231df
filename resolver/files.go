package resolver

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/capstatic/capstatic/manifest"
)

// maxBufferedFile bounds a file read into memory when the source cannot
// seek.
const maxBufferedFile = 512 << 20

// handleFile serves a tree object with Range support. Content-addressed
// objects are immutable and cached for a year; pointers and the index are
// revalidated.
func (s *Server) handleFile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("path")
	if !fs.ValidPath(name) || name == "." || strings.Contains(name, "\\") || strings.HasPrefix(path.Base(name), ".") {
		http.NotFound(w, r)
		return
	}
	f, err := s.cfg.Files.Open(r.Context(), name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Error("open tree file", "path", name, "err", err)
		}
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		http.NotFound(w, r)
		return
	}
	content, ok := f.(io.ReadSeeker)
	if !ok {
		b, err := manifest.ReadAll(f, maxBufferedFile)
		if err != nil {
			http.Error(w, "file too large", http.StatusInternalServerError)
			return
		}
		content = bytes.NewReader(b)
	}
	h := w.Header()
	if mutable(name) {
		h.Set("Cache-Control", "public, max-age=5, must-revalidate")
	} else {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		// Immutable objects are named by digests, so the name and size
		// identify the content: a strong validator (RFC 9110 §8.8.3).
		h.Set("ETag", `"`+manifest.Sum([]byte(name)).Short()+`"`)
	}
	if strings.HasSuffix(name, ".json") {
		h.Set("Content-Type", "application/json")
	} else {
		h.Set("Content-Type", "application/octet-stream")
	}
	http.ServeContent(w, r, "", modTime(st), content)
}

func modTime(st fs.FileInfo) time.Time {
	if mutable(st.Name()) {
		return st.ModTime()
	}
	return time.Time{}
}

// mutable reports whether a tree path may change in place.
func mutable(name string) bool {
	return path.Base(name) == "current.json" || name == manifest.IndexPath
}
