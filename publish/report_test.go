package publish_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
	"github.com/capstatic/capstatic/publish/e2e"
	"github.com/capstatic/capstatic/publish/publishtest"
)

const repApp = "com.example.report"

// repNoise returns n bytes of seeded, incompressible text, so that object
// sizes are about file sizes.
func repNoise(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return b
}

// repBuild is a build of index.html and two scripts whose contents derive
// from the three seeds.
func repBuild(index, app, vendor uint64) fstest.MapFS {
	return fstest.MapFS{
		"index.html":       {Data: append([]byte("<!doctype html>"), repNoise(index, 300)...)},
		"assets/app.js":    {Data: repNoise(app, 2000)},
		"assets/vendor.js": {Data: repNoise(vendor, 9000)},
	}
}

// repPublish publishes build as version to channel "production".
func repPublish(t *testing.T, p *publish.Publisher, version string, build fstest.MapFS) *publish.Result {
	t.Helper()
	res, err := p.Publish(context.Background(), publish.Release{App: repApp, Version: version,
		Channel: "production", Build: build})
	require.NoError(t, err, "publish %s", version)
	return res
}

func repReport(t *testing.T, p *publish.Publisher, res *publish.Result) *publish.DeltaReport {
	t.Helper()
	r, err := p.DeltaReport(context.Background(), repApp, res)
	require.NoError(t, err, "DeltaReport(%s)", res.Bundle.Version)
	return r
}

// repAll is the bytes of every object of b.
func repAll(b *manifest.Bundle) int64 {
	var n int64
	for _, f := range b.Files {
		n += f.Object.Size
	}
	return n
}

func repObject(t *testing.T, b *manifest.Bundle, name string) int64 {
	t.Helper()
	for _, f := range b.Files {
		if f.Name == name {
			return f.Object.Size
		}
	}
	t.Fatalf("no %s in %s", name, b.Version)
	return 0
}

func TestPublisher_DeltaReport(t *testing.T) {
	t.Parallel()
	p := &publish.Publisher{Store: publishtest.NewMemory()}
	r1 := repPublish(t, p, "1.0.0", repBuild(1, 2, 3))
	first := repReport(t, p, r1)
	assert.Equal(t, []publish.DeltaRow{{Download: 3, Bytes: repAll(r1.Bundle)}}, first.Rows, "first bundle")

	r2 := repPublish(t, p, "1.0.1", repBuild(1, 20, 3))
	r3 := repPublish(t, p, "1.1.0", repBuild(10, 20, 30))
	got := repReport(t, p, r3)
	b := r3.Bundle
	want := &publish.DeltaReport{Version: "1.1.0", Files: 3, Zip: b.Size, Rows: []publish.DeltaRow{
		{From: "1.0.1", Download: 2, Reused: 1, Bytes: repAll(b) - repObject(t, b, "assets/app.js")},
		{From: "1.0.0", Download: 3, Bytes: repAll(b)},
		{From: manifest.Builtin, Like: "1.0.0", Download: 3, Bytes: repAll(b)},
		{Download: 3, Bytes: repAll(b)},
	}}
	assert.Equal(t, want, got)

	one := repReport(t, p, r2)
	assert.Equal(t, publish.DeltaRow{From: "1.0.0", Download: 1, Reused: 2, Bytes: repObject(t, r2.Bundle, "assets/app.js")},
		one.Rows[0], "one file of three changed")
}

func TestPublisher_DeltaReport_History(t *testing.T) {
	t.Parallel()
	p := &publish.Publisher{Store: publishtest.NewMemory()}
	ctx := context.Background()
	for i := range 12 {
		repPublish(t, p, fmt.Sprintf("1.0.%d", i), repBuild(1, uint64(100+i), 3))
	}
	// A rollback puts 1.0.10 in the history again: it must appear once.
	_, err := p.Update(ctx, repApp, func(st *manifest.State) error {
		if _, err := p.Bundle(ctx, st, "1.0.10"); err != nil {
			return err
		}
		_, err := publish.Rollback(st, "production", "1.0.10", nil)
		return err
	})
	require.NoError(t, err)
	res := repPublish(t, p, "1.0.12", repBuild(1, 112, 3))
	r := repReport(t, p, res)
	var from []string
	for _, row := range r.Rows {
		from = append(from, row.From)
	}
	assert.Equal(t, []string{"1.0.11", "1.0.10", "1.0.9", "1.0.8", "1.0.7", "1.0.6", "1.0.5", "1.0.4",
		"1.0.3", "1.0.2", manifest.Builtin, ""}, from, "rows")
	assert.Equal(t, "1.0.0", r.Rows[10].Like, "builtin stands for the first bundle")
	want := r.Rows[0]
	want.From, want.Like = manifest.Builtin, "1.0.0"
	assert.Equal(t, want, r.Rows[10], "builtin costs like every version sharing two files")
}

func TestPublisher_DeltaReport_Cascade(t *testing.T) {
	t.Parallel()
	chunks := func(hash string, tweak byte) fstest.MapFS {
		b := fstest.MapFS{"index.html": {Data: []byte("<!doctype html>" + hash)}}
		for i := range 6 {
			data := repNoise(uint64(50+i), 3000)
			data[0] = tweak // a changed import: a tiny content change
			b[fmt.Sprintf("assets/chunk%d-%s%d.js", i, hash, i)] = &fstest.MapFile{Data: data}
		}
		return b
	}
	tests := []struct {
		name    string
		old     fstest.MapFS
		new     fstest.MapFS
		cascade bool
	}{
		{"RenamedChunks", chunks("a1b2c3d4", 'a'), chunks("e5f6a7b8", 'b'), true},
		{"OneFile", repBuild(1, 2, 3), repBuild(1, 4, 3), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &publish.Publisher{Store: publishtest.NewMemory()}
			repPublish(t, p, "1.0.0", tc.old)
			r := repReport(t, p, repPublish(t, p, "1.0.1", tc.new))
			if !tc.cascade {
				assert.Nil(t, r.Cascade)
				return
			}
			require.NotNil(t, r.Cascade)
			assert.Equal(t, "1.0.0", r.Cascade.From)
			assert.Contains(t, r.Cascade.Detail, "6 files were renamed")
		})
	}
}

func TestPublisher_DeltaReport_Encrypted(t *testing.T) {
	t.Parallel()
	key, err := e2e.GenerateKey()
	require.NoError(t, err)
	p := &publish.Publisher{Store: publishtest.NewMemory()}
	r1 := repPublish(t, p, "1.0.0", repBuild(1, 2, 3))
	res, err := p.Publish(context.Background(), publish.Release{App: repApp, Version: "1.0.1", Channel: "production",
		Build: repBuild(1, 4, 3), Keys: []publish.Key{{Scheme: manifest.SchemeV2, Private: key}}})
	require.NoError(t, err)
	r := repReport(t, p, res)
	assert.Equal(t, &publish.DeltaReport{Version: "1.0.1", Zip: res.Bundle.Size, Encrypted: true}, r, "encrypted bundle")

	res = repPublish(t, p, "1.0.2", repBuild(1, 2, 3))
	r = repReport(t, p, res)
	assert.Equal(t, []publish.DeltaRow{
		{From: "1.0.0", Download: 0, Reused: 3},
		{From: "1.0.1", Unknown: true},
		{From: manifest.Builtin, Like: "1.0.0", Reused: 3},
		{Download: 3, Bytes: repAll(r1.Bundle)},
	}, r.Rows, "after an encrypted version")
}

func TestPublisher_DeltaReport_MissingRecord(t *testing.T) {
	t.Parallel()
	mem := publishtest.NewMemory()
	p := &publish.Publisher{Store: mem}
	r1 := repPublish(t, p, "1.0.0", repBuild(1, 2, 3))
	repPublish(t, p, "1.0.1", repBuild(1, 4, 3))
	res := repPublish(t, p, "1.0.2", repBuild(1, 5, 3))
	require.NoError(t, mem.Delete(context.Background(), manifest.BundleRecordPath(repApp, r1.Bundle.ID)))
	r := repReport(t, p, res)
	assert.Equal(t, []string{r1.Bundle.ID.String()}, r.Missing)
	require.Len(t, r.Rows, 2, "1.0.1 and nothing cached; no builtin without its record")
	assert.Equal(t, "1.0.1", r.Rows[0].From)
}
