package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// pkg is one pinned tarball of the packages file.
type pkg struct {
	name, version, sha256, subdir string
}

func (p pkg) String() string { return p.name + "@" + p.version }

// file is the tarball's name in the cache, as npm pack names it:
// "@scope/name" becomes "scope-name".
func (p pkg) file() string {
	return strings.ReplaceAll(strings.TrimPrefix(p.name, "@"), "/", "-") + "-" + p.version + ".tgz"
}

// readPackages parses the packages file: "NAME VERSION SHA256 SUBDIR" per
// line, blank lines and "#" comments ignored.
func readPackages(name string) ([]pkg, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var pkgs []pkg
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		w := strings.Fields(line)
		if len(w) != 4 || len(w[2]) != 64 {
			return nil, fmt.Errorf("%s:%d: want NAME VERSION SHA256 SUBDIR", name, n)
		}
		if !fs.ValidPath(w[3]) {
			return nil, fmt.Errorf("%s:%d: bad subdir %q", name, n, w[3])
		}
		pkgs = append(pkgs, pkg{name: w[0], version: w[1], sha256: strings.ToLower(w[2]), subdir: w[3]})
	}
	return pkgs, sc.Err()
}

// fetch returns the path of p's tarball in cache after checking its
// SHA-256, running "npm pack" first when it is not there.
func fetch(ctx context.Context, p pkg, cache string, log io.Writer) (string, error) {
	dst := filepath.Join(cache, p.file())
	if _, err := os.Stat(dst); errors.Is(err, fs.ErrNotExist) {
		if err := npmPack(ctx, p, cache, dst, log); err != nil {
			return "", err
		}
	}
	sum, err := fileSHA256(dst)
	if err != nil {
		return "", err
	}
	if sum != p.sha256 {
		return "", fmt.Errorf("%s: sha256 %s, pinned %s (delete it to fetch again)", dst, sum, p.sha256)
	}
	return dst, nil
}

// npmPack downloads p's tarball to dst through a scratch folder, so that an
// interrupted download never sits in the cache under the final name.
func npmPack(ctx context.Context, p pkg, cache, dst string, log io.Writer) error {
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(cache, "pack-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(log, "delta: npm pack %s\n", p)
	cmd := exec.CommandContext(ctx, "npm", "pack", p.String(), "--pack-destination", tmp)
	cmd.Stdout, cmd.Stderr = io.Discard, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm pack %s: %w", p, err)
	}
	got := filepath.Join(tmp, p.file())
	if _, err := os.Stat(got); err != nil {
		return fmt.Errorf("npm pack %s: %w", p, err)
	}
	return os.Rename(got, dst)
}

func fileSHA256(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// unpack writes the regular files under package/<subdir>/ of the tarball
// tgz to a new folder under work and returns it. Links and other special
// entries are left out; a name leaving the folder is an error.
func unpack(tgz string, p pkg, work string) (string, error) {
	f, err := os.Open(tgz)
	if err != nil {
		return "", err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", tgz, err)
	}
	dir, err := os.MkdirTemp(work, p.file()+"-")
	if err != nil {
		return "", err
	}
	prefix := path.Join("package", p.subdir) + "/"
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir, nil
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", tgz, err)
		}
		rel, ok := strings.CutPrefix(h.Name, prefix)
		if !ok || h.Typeflag != tar.TypeReg {
			continue
		}
		if !fs.ValidPath(rel) {
			return "", fmt.Errorf("%s: bad entry name %q", tgz, h.Name)
		}
		if err := writeFile(filepath.Join(dir, filepath.FromSlash(rel)), tr); err != nil {
			return "", err
		}
	}
}

func writeFile(name string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
