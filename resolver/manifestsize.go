package resolver

import (
	"encoding/json"
	"net/http"
)

// handleManifestSize answers the Gen N size probe (capgo-protocol.md §2.3):
// for each requested manifest entry, its download size from the bundle
// record.
func (s *Server) handleManifestSize(w http.ResponseWriter, r *http.Request) {
	body, f := readBody(w, r, s.cfg.MaxStatsBody)
	if f != nil {
		s.writeFailure(w, f)
		return
	}
	_, app, _, ok := s.channelRequest(w, r, body)
	if !ok {
		return
	}
	var probe struct {
		Version  string          `json:"version"`
		Manifest []manifestEntry `json:"manifest"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		s.writeFailure(w, jsonFailure(err))
		return
	}
	sizes := app.fileSizes(probe.Version)
	type row struct {
		manifestEntry
		Size  *int64 `json:"size,omitempty"`
		Error string `json:"error,omitempty"`
	}
	out := struct {
		TotalSize    int64 `json:"totalSize"`
		KnownFiles   int   `json:"knownFiles"`
		UnknownFiles int   `json:"unknownFiles"`
		Files        []row `json:"files"`
	}{Files: []row{}}
	for _, e := range probe.Manifest {
		rw := row{manifestEntry: e}
		if n, ok := sizes[e.FileName]; ok {
			rw.Size = &n
			out.TotalSize += n
			out.KnownFiles++
		} else {
			rw.Error = "size_unknown"
			out.UnknownFiles++
		}
		out.Files = append(out.Files, rw)
	}
	b, _ := json.Marshal(out)
	writeJSON(w, http.StatusOK, b)
}

// fileSizes maps the wire file names of a live bundle's delta set to the
// sizes of their objects.
func (a *App) fileSizes(version string) map[string]int64 {
	m := map[string]int64{}
	for _, ch := range a.channels {
		for _, b := range []*bundle{ch.target, ch.rollout} {
			if b == nil || b.rec.Version != version {
				continue
			}
			for _, f := range b.rec.Files {
				m[f.WireName()] = f.Object.Size
			}
			for _, k := range b.rec.Keys {
				for _, f := range k.Files {
					m[f.WireName()] = f.Object.Size
				}
			}
		}
	}
	return m
}
