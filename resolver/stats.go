package resolver

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// wireEvent is a stats event as plugins send it (capgo-protocol.md §5).
type wireEvent struct {
	AppID          *string           `json:"app_id"`
	DeviceID       *string           `json:"device_id"`
	CustomID       string            `json:"custom_id"`
	Action         string            `json:"action"`
	VersionName    string            `json:"version_name"`
	OldVersionName string            `json:"old_version_name"`
	VersionBuild   string            `json:"version_build"`
	VersionOS      string            `json:"version_os"`
	Platform       string            `json:"platform"`
	PluginVersion  string            `json:"plugin_version"`
	IsEmulator     *bool             `json:"is_emulator"`
	IsProd         *bool             `json:"is_prod"`
	Timestamp      float64           `json:"timestamp"`
	Metadata       map[string]string `json:"metadata"`
}

// event validates a decoded stats event and turns it into an [Event]. The
// action may be any string.
func (w *wireEvent) event(now time.Time) (Event, *Failure) {
	switch {
	case w.DeviceID == nil || *w.DeviceID == "":
		return Event{}, fail(http.StatusBadRequest, CodeMissingDeviceID)
	case w.AppID == nil || *w.AppID == "":
		return Event{}, fail(http.StatusBadRequest, CodeMissingAppID)
	case len(w.CustomID) > 36, len(w.Action) > 128, len(w.VersionName) > 512, len(w.Metadata) > 30:
		return Event{}, invalidBody("event")
	}
	e := Event{Received: now, AppID: *w.AppID, DeviceID: strings.ToLower(*w.DeviceID), CustomID: w.CustomID,
		Action: w.Action, VersionName: w.VersionName, OldVersionName: w.OldVersionName,
		VersionBuild: w.VersionBuild, VersionOS: w.VersionOS, Platform: w.Platform,
		PluginVersion: w.PluginVersion, IsEmulator: w.IsEmulator, IsProd: w.IsProd,
		Timestamp: int64(w.Timestamp), Metadata: w.Metadata}
	if e.VersionName == "" || e.VersionName == "builtin" {
		e.VersionName = e.VersionBuild
	}
	return e, nil
}

// handleStats accepts one event object or an array of them and answers at
// once; events go to the sink's bounded queue.
func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	body, f := readBody(w, r, s.cfg.MaxStatsBody)
	if f != nil {
		s.writeFailure(w, f)
		return
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		s.statsBatch(w, r, trimmed)
		return
	}
	var we wireEvent
	if err := json.Unmarshal(body, &we); err != nil {
		s.writeFailure(w, jsonFailure(err))
		return
	}
	e, f := we.event(time.Now())
	if f != nil {
		s.writeFailure(w, f)
		return
	}
	if _, f := s.app(r.Context(), e.AppID); f != nil {
		s.writeFailure(w, f)
		return
	}
	s.offer(e)
	writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
}

func (s *Server) statsBatch(w http.ResponseWriter, r *http.Request, body []byte) {
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		s.writeFailure(w, jsonFailure(err))
		return
	}
	now, app := time.Now(), ""
	events := make([]Event, len(raw))
	errs := make([]*Failure, len(raw))
	for i, m := range raw {
		var we wireEvent
		if err := json.Unmarshal(m, &we); err != nil {
			errs[i] = jsonFailure(err)
			continue
		}
		events[i], errs[i] = we.event(now)
		switch {
		case errs[i] != nil:
		case app == "":
			app = events[i].AppID
		case events[i].AppID != app:
			errs[i] = &Failure{Status: http.StatusOK, Code: CodeMixedAppIDs, Message: messages[CodeMixedAppIDs]}
		}
	}
	// An array always gets 200 with per-index results (answer-features.md),
	// so an unknown app is reported per event rather than with a 429.
	if app != "" {
		if _, f := s.app(r.Context(), app); f != nil {
			for i := range errs {
				if errs[i] == nil {
					errs[i] = f
				}
			}
		}
	}
	writeJSON(w, http.StatusOK, s.batchResults(events, errs))
}

func (s *Server) batchResults(events []Event, errs []*Failure) []byte {
	buf := []byte(`{"status":"ok","results":[`)
	for i := range events {
		if i > 0 {
			buf = append(buf, ',')
		}
		if f := errs[i]; f != nil {
			buf = append(buf, `{"status":"error","error":`...)
			buf = appendString(buf, f.Code)
			buf = appendKV(buf, "message", f.Message)
		} else {
			s.offer(events[i])
			buf = append(buf, `{"status":"ok"`...)
		}
		buf = append(buf, `,"index":`...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, '}')
	}
	return append(buf, "]}"...)
}

func (s *Server) offer(e Event) {
	if s.cfg.Sink != nil {
		s.cfg.Sink.Offer(e)
	}
}

// appendRefusalShape writes a 200 business error {error, message}.
func appendRefusalShape(buf []byte, code string) []byte {
	buf = append(buf, `{"error":`...)
	buf = appendString(buf, code)
	buf = appendKV(buf, "message", messages[code])
	return append(buf, '}')
}

// jsonFailure maps a decode error to the protocol's 400 shapes.
func jsonFailure(err error) *Failure {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return invalidBody(typeErr.Field)
	}
	return fail(http.StatusBadRequest, CodeInvalidJSONParse)
}
