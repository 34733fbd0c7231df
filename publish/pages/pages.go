// Package pages prepares a folder tree for GitHub Pages.
//
// A GitHub Pages site is a static file host: it serves the tree written by a
// [publish.Dir] as it is, but it cannot list folders (so readers rely on the
// tree's index.json) and cannot answer the plugin's POST requests, so a
// resolver (capstatic serve, reading the site over HTTPS or a copy of the
// tree) must run elsewhere. GitHub's CDN caches every file for about ten
// minutes and does not let a site change that, so a device can see a new
// release up to that long after the deploy.
//
// When Pages builds the site from a branch it runs Jekyll, which skips
// files and folders whose names start with "_" or "." and takes its time
// over large trees. [Prepare] writes the .nojekyll marker that turns Jekyll
// off, so the folder is served byte for byte. A site deployed from an
// Actions artifact (actions/deploy-pages) is not run through Jekyll; the
// marker is harmless there.
package pages

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// NoJekyll is the name of the marker file at the root of the site.
const NoJekyll = ".nojekyll"

// Prepare creates root if needed and writes an empty [NoJekyll] file at its
// root when there is none. It is idempotent. The marker is written to a
// temporary file and renamed into place, like every object of a
// [publish.Dir]. Keys starting with "." are not tree paths, so the store
// never lists, copies or deletes the marker.
func Prepare(root string) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("prepare pages folder: %w", err)
	}
	marker := filepath.Join(root, NoJekyll)
	if _, err := os.Stat(marker); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("prepare pages folder: %w", err)
	}
	f, err := os.CreateTemp(root, ".tmp-*")
	if err != nil {
		return fmt.Errorf("prepare pages folder: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("prepare pages folder: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("prepare pages folder: %w", err)
	}
	if err := os.Rename(f.Name(), marker); err != nil {
		return fmt.Errorf("prepare pages folder: %w", err)
	}
	return nil
}
