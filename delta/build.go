package delta

import (
	"context"
	"fmt"
	"io/fs"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/capstatic/capstatic/manifest"
)

// Options configures [Build].
type Options struct {
	// App is the app id; object paths are manifest.FilePath(App, …).
	App string
	// Level is the brotli quality, 1 to 11; zero means [DefaultLevel] and a
	// negative level compresses only [Forced] files (see [Choose]).
	Level int
	// Workers is how many files are read and compressed at once; zero means
	// runtime.NumCPU(). Memory use is about Workers times the largest file.
	Workers int
	// Have returns the record of the object stored at a tree path, and
	// whether there is one. Build asks about the paths it may use for a
	// file's content (manifest.FilePath with and without brotli) before
	// compressing it, and reuses an object it is told about instead of
	// making it again; the record's Path must be the path asked about. Have
	// is called from Build's goroutine only, one call at a time. Nil means
	// nothing is stored yet.
	Have func(path string) (manifest.Object, bool)
}

// Object is a file object [Build] made: the bytes to store at Path.
type Object struct {
	// Path is the tree path, manifest.FilePath(app, Content, Brotli).
	Path string
	// Name is the first file in the build with this content.
	Name string
	// Content is the digest of the uncompressed content.
	Content manifest.Digest
	// Brotli reports whether Data is brotli-compressed.
	Brotli bool
	// Data is the object's bytes, and SHA256 their digest.
	Data   []byte
	SHA256 manifest.Digest
}

// Record returns the [manifest.Object] describing o.
func (o Object) Record() manifest.Object {
	return manifest.Object{Path: o.Path, Size: int64(len(o.Data)), SHA256: o.SHA256}
}

// mode is how a file's content may be sent.
type mode uint8

const (
	modeAuto   mode = iota // brotli when it is smaller
	modeBrotli             // always brotli ([Forced])
	modeRaw                // never brotli: name+".br" is another file
)

// job is one content to turn into an object, shared by every entry with
// the same digest and mode.
type job struct {
	entry Entry
	mode  mode
	files []int // indexes into the result
}

// Build returns the manifest.File records of the files entries describes
// (as [Scan] returned them, read from fsys), sorted by name, and calls emit
// for every object that has to be stored.
//
// Each distinct content is read, checked against its entry (a mismatch is
// [ErrChanged]) and compressed according to [Choose], on opt.Workers
// goroutines, unless opt.Have reports a usable object already stored. A file
// whose name plus ".br" is also in entries is sent raw, so that no wire name
// equals another file's name; a ".br" file whose name plus ".br" is also in
// entries cannot be sent at all and fails with [ErrWireName].
//
// emit is called from Build's goroutine, one call at a time, once per new
// object path; it may keep obj.Data. A path names the content and whether it
// is compressed, not the compressed bytes, which depend on the level: a
// store that already holds an object at obj.Path should keep it rather than
// replace it, so that the records of earlier bundles stay true.
//
// Build stops at the first error from emit, from reading a file or from
// ctx, waits for its goroutines and returns that error; objects already
// emitted stay valid (they are content addressed) but no records are
// returned.
func Build(ctx context.Context, fsys fs.FS, entries []Entry, opt Options, emit func(obj Object) error) ([]manifest.File, error) {
	if err := manifest.CheckAppID(opt.App); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	modes, err := modesOf(entries)
	if err != nil {
		return nil, err
	}
	files := make([]manifest.File, len(entries))
	var jobs []*job
	byKey := make(map[jobKey]*job)
	for i, e := range entries {
		files[i] = manifest.File{Name: e.Name, SHA256: e.SHA256, Size: e.Size}
		obj, br, ok, err := lookup(opt, e.SHA256, modes[i])
		if err != nil {
			return nil, &FileError{Op: "build", Path: e.Name, Err: err}
		}
		if ok {
			files[i].Brotli, files[i].Object = br, obj
			continue
		}
		k := jobKey{e.SHA256, modes[i]}
		j := byKey[k]
		if j == nil {
			j = &job{entry: e, mode: modes[i]}
			byKey[k] = j
			jobs = append(jobs, j)
		}
		j.files = append(j.files, i)
	}

	emitted := make(map[string]bool)
	err = run(ctx, fsys, jobs, opt, func(j *job, obj Object) error {
		if !emitted[obj.Path] {
			if err := emit(obj); err != nil {
				return err
			}
			emitted[obj.Path] = true
		}
		for _, i := range j.files {
			files[i].Brotli, files[i].Object = obj.Brotli, obj.Record()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(files, func(a, b manifest.File) int { return strings.Compare(a.Name, b.Name) })
	if err := CheckWireNames(files); err != nil {
		return nil, fmt.Errorf("build: %w", err) // modesOf should have prevented it
	}
	return files, nil
}

type jobKey struct {
	content manifest.Digest
	mode    mode
}

// modesOf checks the names of entries and decides how each may be sent.
func modesOf(entries []Entry) ([]mode, error) {
	names := make(map[string]bool, len(entries))
	for _, e := range entries {
		if !validName(e.Name) {
			return nil, &FileError{Op: "build", Path: e.Name, Err: ErrBadName}
		}
		if names[e.Name] {
			return nil, &FileError{Op: "build", Path: e.Name, Err: fmt.Errorf("listed twice: %w", ErrWireName)}
		}
		names[e.Name] = true
	}
	modes := make([]mode, len(entries))
	for i, e := range entries {
		sibling := names[e.Name+".br"]
		switch {
		case sibling && strings.HasSuffix(e.Name, ".br"):
			return nil, &FileError{Op: "build", Path: e.Name, Err: fmt.Errorf(
				"must be sent as %q, the name of another file: %w", e.Name+".br", ErrWireName)}
		case sibling:
			modes[i] = modeRaw
		case Forced(e.Name, e.Size):
			modes[i] = modeBrotli
		}
	}
	return modes, nil
}

// lookup asks opt.Have for a stored object that can carry content d in
// mode m, preferring the smaller when both forms are stored.
func lookup(opt Options, d manifest.Digest, m mode) (obj manifest.Object, br, ok bool, err error) {
	if opt.Have == nil {
		return obj, false, false, nil
	}
	for _, b := range [2]bool{true, false} {
		if (b && m == modeRaw) || (!b && m == modeBrotli) {
			continue
		}
		p := manifest.FilePath(opt.App, d, b)
		o, found := opt.Have(p)
		if !found {
			continue
		}
		if o.Path != p {
			return obj, false, false, fmt.Errorf("have(%q) returned a record of %q", p, o.Path)
		}
		if !ok || o.Size < obj.Size {
			obj, br, ok = o, b, true
		}
	}
	return obj, br, ok, nil
}

// run makes the objects of jobs on opt.Workers goroutines and passes each to
// done, on the calling goroutine. All goroutines have exited when it returns.
func run(ctx context.Context, fsys fs.FS, jobs []*job, opt Options, done func(*job, Object) error) error {
	if len(jobs) == 0 {
		return ctx.Err()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	level := opt.Level
	if level == 0 {
		level = DefaultLevel
	}

	type result struct {
		j   *job
		obj Object
		err error
	}
	next := make(chan *job)
	results := make(chan result)
	var wg sync.WaitGroup
	wg.Go(func() { // feeder: exits when every job is handed out or ctx ends
		defer close(next)
		for _, j := range jobs {
			select {
			case next <- j:
			case <-ctx.Done():
				return
			}
		}
	})
	for range min(workers, len(jobs)) {
		wg.Go(func() { // worker: exits when next closes or ctx ends
			for j := range next {
				obj, err := makeObject(ctx, fsys, opt.App, j, level)
				select {
				case results <- result{j, obj, err}:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(results) }()

	var first error
	finished := 0
	for r := range results {
		if first != nil {
			continue // drain until every goroutine has exited
		}
		if r.err == nil {
			r.err = done(r.j, r.obj)
		}
		if r.err != nil {
			first = r.err
			cancel()
			continue
		}
		finished++
	}
	if first == nil && finished < len(jobs) {
		first = ctx.Err() // the caller's ctx ended
	}
	return first
}

// makeObject reads the content of j and encodes it as j.mode requires.
func makeObject(ctx context.Context, fsys fs.FS, app string, j *job, level int) (Object, error) {
	if err := ctx.Err(); err != nil {
		return Object{}, err
	}
	e := j.entry
	data, err := fs.ReadFile(fsys, e.Name)
	if err != nil {
		return Object{}, fileError("read", e.Name, err)
	}
	if int64(len(data)) != e.Size || manifest.Sum(data) != e.SHA256 {
		return Object{}, &FileError{Op: "read", Path: e.Name, Err: ErrChanged}
	}
	var br bool
	if j.mode != modeRaw {
		// Choose compresses exactly the Forced files that modeBrotli
		// stands for, and decides the others by size.
		data, br = Choose(e.Name, data, level)
	}
	return Object{
		Path:    manifest.FilePath(app, e.SHA256, br),
		Name:    e.Name,
		Content: e.SHA256,
		Brotli:  br,
		Data:    data,
		SHA256:  manifest.Sum(data),
	}, nil
}
