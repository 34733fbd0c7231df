package resolver_test

import (
	"testing"

	"github.com/capstatic/capstatic/resolver"
)

// BenchmarkResolve measures the pure decision for an up-to-date device and
// for one that gets an update (target: ≤ 1 µs and ≤ 2 allocations).
func BenchmarkResolve(b *testing.B) {
	a := newState().channel("production", bundleRec("1.0.1"), nil).defaults("production", "android").app(&testing.T{})
	for _, tc := range []struct{ name, running string }{{"up-to-date", "1.0.1"}, {"update", "builtin"}} {
		req, f := resolver.ParseRequest(request(map[string]any{"version_name": tc.running}))
		if f != nil {
			b.Fatal(f)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d := resolver.Resolve(a, req, resolver.Overrides{})
				if d.Rule == "" {
					b.Fatal("no rule")
				}
			}
		})
	}
}

// BenchmarkParseRequest measures decoding and validating an update body.
func BenchmarkParseRequest(b *testing.B) {
	body := request(nil)
	var natives resolver.Natives
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, f := resolver.ParseRequestCached(body, &natives); f != nil {
			b.Fatal(f)
		}
	}
}

// BenchmarkAppendAnswer measures encoding a refusal and an update answer.
func BenchmarkAppendAnswer(b *testing.B) {
	a := newState().channel("production", bundleRec("1.0.1"), nil).defaults("production", "android").app(&testing.T{})
	buf := make([]byte, 0, 4096)
	for _, tc := range []struct{ name, running string }{{"up-to-date", "1.0.1"}, {"update", "builtin"}} {
		req, _ := resolver.ParseRequest(request(map[string]any{"version_name": tc.running}))
		d := resolver.Resolve(a, req, resolver.Overrides{})
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buf = a.AppendAnswer(buf[:0], &d, req)
			}
		})
	}
}
