package delta_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/capstatic/capstatic/delta"
)

// BenchmarkBuild builds a fresh pseudo web build (nothing stored yet), so
// every file is read, hashed and compressed; throughput is of raw bytes.
func BenchmarkBuild(b *testing.B) {
	for _, bc := range []struct {
		size  int
		level int
	}{
		{1 << 20, 11},
		{1 << 20, 5},
		{16 << 20, 5},
	} {
		fsys := webBuild(1, 2, bc.size)
		entries, err := delta.Scan(fsys)
		if err != nil {
			b.Fatal(err)
		}
		var total int64
		for _, e := range entries {
			total += e.Size
		}
		opt := delta.Options{App: testApp, Level: bc.level}
		b.Run(fmt.Sprintf("%dMiB/q%d", bc.size>>20, bc.level), func(b *testing.B) {
			b.SetBytes(total)
			b.ReportAllocs()
			var stored int64
			for b.Loop() {
				stored = 0
				_, err := delta.Build(context.Background(), fsys, entries, opt, func(o delta.Object) error {
					stored += int64(len(o.Data))
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(stored)/float64(total), "ratio")
		})
	}
}
