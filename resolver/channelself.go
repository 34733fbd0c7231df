package resolver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
)

// channelRequest decodes a channel_self body: the info object plus an
// optional channel name.
func (s *Server) channelRequest(w http.ResponseWriter, r *http.Request, body []byte) (*Request, *App, string, bool) {
	var wi wireInfo
	if f := decodeInfo(body, &wi); f != nil {
		s.writeFailure(w, f)
		return nil, nil, "", false
	}
	req, f := wi.request(&s.natives)
	if f != nil {
		s.writeFailure(w, f)
		return nil, nil, "", false
	}
	app, f := s.app(r.Context(), req.AppID)
	if f != nil {
		s.writeFailure(w, f)
		return nil, nil, "", false
	}
	return req, app, wi.Channel, true
}

// handleChannelSet is setChannel (POST): validate the channel; plugins that
// keep their channel locally get {"status":"ok","allowSet":true} and
// nothing is stored; older ones get a server-side override.
func (s *Server) handleChannelSet(w http.ResponseWriter, r *http.Request) {
	body, f := readBody(w, r, s.cfg.MaxBody)
	if f != nil {
		s.writeFailure(w, f)
		return
	}
	req, app, name, ok := s.channelRequest(w, r, body)
	if !ok {
		return
	}
	if name == "" {
		writeJSON(w, http.StatusOK, appendRefusalShape(nil, CodeMissingChannel))
		return
	}
	ch := app.channels[name]
	switch {
	case ch == nil:
		buf := appendRefusalShape(nil, CodeChannelNotFound)
		buf = appendKV(appendKV(buf[:len(buf)-1], "channel", name), "app_id", app.ID)
		writeJSON(w, http.StatusOK, append(buf, '}'))
		return
	case !ch.s.AllowSelfSet && ch.public:
		writeJSON(w, http.StatusOK, appendRefusalShape(nil, CodePublicChannelSelfSet))
		return
	case !ch.s.AllowSelfSet:
		writeJSON(w, http.StatusOK, appendRefusalShape(nil, CodeChannelSelfSetNotAllow))
		return
	case req.Features.StatelessChannel:
		writeJSON(w, http.StatusOK, []byte(`{"status":"ok","allowSet":true}`))
		return
	}
	s.storeOverride(w, app, req, ch)
}

// storeOverride records a device override for a plugin that needs the
// server to remember it. Choosing the platform's public channel removes
// the override instead.
func (s *Server) storeOverride(w http.ResponseWriter, app *App, req *Request, ch *channel) {
	if cur := s.operatorOverride(app, req); cur != nil && !cur.s.AllowSelfSet {
		writeJSON(w, http.StatusOK, appendRefusalShape(nil, CodeCannotOverride))
		return
	}
	var err error
	switch {
	case s.cfg.Devices == nil:
		s.log.Warn("channel_self from a plugin that needs server-side storage, but no device store is configured",
			"app", app.ID, "plugin_version", req.PluginVersion)
	case app.defaults[req.Platform] == ch:
		err = s.cfg.Devices.Delete(app.ID, req.DeviceID)
	default:
		err = s.cfg.Devices.Set(app.ID, req.DeviceID, ch.name)
	}
	if err != nil {
		s.log.Error("store device override", "app", app.ID, "err", err)
		s.writeFailure(w, fail(http.StatusInternalServerError, CodeUnknownError))
		return
	}
	writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
}

// operatorOverride returns the channel an operator pinned the device to
// (override file or app state), or nil.
func (s *Server) operatorOverride(app *App, req *Request) *channel {
	if ch := app.lookup(s.cfg.Overrides.File, req.DeviceID); ch != nil {
		return ch
	}
	return app.overrides[req.DeviceID]
}

// handleChannelGet is getChannel (PUT): the channel the device would
// resolve to now, never a fixed name (answer-features.md).
func (s *Server) handleChannelGet(w http.ResponseWriter, r *http.Request) {
	body, f := readBody(w, r, s.cfg.MaxBody)
	if f != nil {
		s.writeFailure(w, f)
		return
	}
	req, app, _, ok := s.channelRequest(w, r, body)
	if !ok {
		return
	}
	var d Decision
	ch := app.pickChannel(req, s.cfg.Overrides, &d)
	if ch == nil {
		s.writeFailure(w, &Failure{Status: http.StatusBadRequest, Code: CodeChannelNotFound, Message: messages[CodeChannelNotFound]})
		return
	}
	status := "default"
	if d.Via == ViaFile || d.Via == ViaState || d.Via == ViaDevice || (d.Via == ViaDefault && app.defaults[req.Platform] != ch) {
		status = "override"
	}
	buf := append([]byte(`{"channel":`), appendString(nil, ch.name)...)
	buf = appendKV(buf, "status", status)
	buf = append(buf, `,"allowSet":`...)
	buf = strconv.AppendBool(buf, ch.s.AllowSelfSet)
	writeJSON(w, http.StatusOK, append(buf, '}'))
}

// handleChannelUnset is unsetChannel (DELETE). Parameters come from the
// query string (as the backend reads them) or from a JSON body.
func (s *Server) handleChannelUnset(w http.ResponseWriter, r *http.Request) {
	body, f := readBody(w, r, s.cfg.MaxBody)
	if f != nil {
		s.writeFailure(w, f)
		return
	}
	if len(body) == 0 {
		body = queryBody(r.URL.Query())
	}
	req, app, _, ok := s.channelRequest(w, r, body)
	if !ok {
		return
	}
	if req.Features.StatelessChannel || s.cfg.Devices == nil {
		writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
		return
	}
	if cur := s.operatorOverride(app, req); cur != nil && !cur.s.AllowSelfSet {
		writeJSON(w, http.StatusOK, appendRefusalShape(nil, CodeCannotOverride))
		return
	}
	if err := s.cfg.Devices.Delete(app.ID, req.DeviceID); err != nil {
		s.log.Error("delete device override", "app", app.ID, "err", err)
		s.writeFailure(w, fail(http.StatusInternalServerError, CodeUnknownError))
		return
	}
	writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
}

// handleChannelList is listChannels (GET with the info object as query
// parameters): the channels this device may use.
func (s *Server) handleChannelList(w http.ResponseWriter, r *http.Request) {
	req, app, _, ok := s.channelRequest(w, r, queryBody(r.URL.Query()))
	if !ok {
		return
	}
	type item struct {
		ID           int64  `json:"id"`
		Name         string `json:"name"`
		Public       bool   `json:"public"`
		AllowSelfSet bool   `json:"allow_self_set"`
	}
	list := []item{}
	for _, ch := range app.channels {
		st := ch.s
		if (st.AllowSelfSet || ch.public) && st.Platform(req.Platform) &&
			(req.IsEmulator && st.AllowEmulator || !req.IsEmulator && st.AllowDevice) &&
			(req.IsProd && st.AllowProd || !req.IsProd && st.AllowDev) {
			list = append(list, item{ch.id, ch.name, ch.public, st.AllowSelfSet})
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	b, _ := json.Marshal(list)
	writeJSON(w, http.StatusOK, b)
}

// queryBody turns query parameters into a JSON info object; "true" and
// "false" become booleans for is_emulator and is_prod.
func queryBody(q url.Values) []byte {
	m := map[string]any{}
	for k, v := range q {
		if len(v) == 0 {
			continue
		}
		m[k] = v[0]
		if k == "is_emulator" || k == "is_prod" {
			m[k] = v[0] == "true"
		}
	}
	b, _ := json.Marshal(m)
	return b
}
