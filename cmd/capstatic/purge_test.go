package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
)

const (
	cfZone  = "023e105f4ecef8ad9ca31a8372d0c353"
	cfToken = "cache-purge-token"
	cfBase  = "https://updates.example.com/tree"
)

// cfAPI stands in for Cloudflare's purge endpoint as documented: POST
// /client/v4/zones/{zone_id}/purge_cache with "Authorization: Bearer
// <token>" and a JSON body {"files": [...]}; it records the files of each
// request, or answers status when status is set.
type cfAPI struct {
	mu     sync.Mutex
	purged [][]string
	status int
}

func newCFAPI(t *testing.T) (*cfAPI, string) {
	t.Helper()
	a := &cfAPI{}
	srv := httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(srv.Close)
	return a, srv.URL + "/client/v4"
}

func (a *cfAPI) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	status := a.status
	var body struct {
		Files []string `json:"files"`
	}
	raw, _ := io.ReadAll(r.Body)
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/client/v4/zones/"+cfZone+"/purge_cache":
		status = http.StatusNotFound
	case r.Header.Get("Authorization") != "Bearer "+cfToken:
		status = http.StatusForbidden
	case json.Unmarshal(raw, &body) != nil || len(body.Files) == 0:
		status = http.StatusBadRequest
	}
	if status != 0 {
		w.WriteHeader(status)
		fmt.Fprint(w, `{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}`)
		return
	}
	a.purged = append(a.purged, body.Files)
	fmt.Fprint(w, `{"success":true,"errors":[],"messages":[],"result":{"id":"`+cfZone+`"}}`)
}

// take returns the purge requests received since the last call.
func (a *cfAPI) take() [][]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.purged
	a.purged = nil
	return p
}

// TestPurge_CLI checks that every pointer write purges exactly the pointer
// URLs it changed, and nothing else: the first publish of an app its
// current.json and index.json, a later publish or operation its
// current.json, a publish that changes nothing no URL.
func TestPurge_CLI(t *testing.T) {
	const app = "com.example.purge"
	api, apiURL := newCFAPI(t)
	tree := t.TempDir()
	flags := []string{"--store", tree, "--app", app, "--cloudflare-zone", cfZone, "--cloudflare-token", cfToken,
		"--cloudflare-api", apiURL, "--purge-url", cfBase + "/"}
	pointer, index := cfBase+"/"+app+"/current.json", cfBase+"/index.json"

	out := cliMust(t, append([]string{"publish", writeBuild(t, "1.0.0"), "--version", "1.0.0", "--json"}, flags...)...)
	assert.Equal(t, [][]string{{pointer, index}}, api.take(), "purges of the first publish")
	assert.Contains(t, out, `"type":"purge"`)

	cliMust(t, append([]string{"publish", writeBuild(t, "1.0.1"), "--version", "1.0.1", "--quiet"}, flags...)...)
	assert.Equal(t, [][]string{{pointer}}, api.take(), "purges of a second publish")

	cliMust(t, append([]string{"publish", writeBuild(t, "1.0.1"), "--version", "1.0.1", "--quiet"}, flags...)...)
	assert.Empty(t, api.take(), "purges of a publish that changes nothing")

	out = cliMust(t, append([]string{"rollback", "production"}, flags...)...)
	assert.Equal(t, [][]string{{pointer}}, api.take(), "purges of a rollback")
	assert.Contains(t, out, "purged from Cloudflare's cache: "+pointer)

	cliMust(t, append([]string{"channel", "create", "beta"}, flags...)...)
	cliMust(t, append([]string{"promote", "production", "beta", "--json"}, flags...)...)
	assert.Equal(t, [][]string{{pointer}, {pointer}}, api.take(), "purges of channel create and promote")

	t.Setenv("CLOUDFLARE_API_TOKEN", cfToken)
	noToken := []string{"--store", tree, "--app", app, "--cloudflare-zone", cfZone, "--cloudflare-api", apiURL, "--purge-url", cfBase}
	cliMust(t, append([]string{"overrides", "set", "device-1", "beta"}, noToken...)...)
	assert.Equal(t, [][]string{{pointer}}, api.take(), "purges with the token from CLOUDFLARE_API_TOKEN")
}

// TestPurge_CLIFailure checks that a failed purge after a successful
// publish exits 1 with a message that says the release is live, after the
// publish printed its result.
func TestPurge_CLIFailure(t *testing.T) {
	const app = "com.example.purgefail"
	api, apiURL := newCFAPI(t)
	api.status = http.StatusForbidden
	tree := t.TempDir()
	code, out, errs := cliRun(t, "", "publish", writeBuild(t, "1.0.0"), "--store", tree, "--app", app, "--version", "1.0.0",
		"--cloudflare-zone", cfZone, "--cloudflare-token", cfToken, "--cloudflare-api", apiURL, "--purge-url", cfBase)
	assert.Equal(t, exitFailure, code, "exit status; stderr: %s", errs)
	assert.Contains(t, out, "published "+app+" 1.0.0")
	assert.Contains(t, errs, "the change is live")
	assert.Contains(t, errs, "cache TTL")
	assert.Contains(t, errs, "403")
	assert.Equal(t, "1.0.0", offer(t, tree, app), "the release is live")
}

// TestPurge_CLIUsage checks that purge flags missing a partner are usage
// errors, found before anything is published.
func TestPurge_CLIUsage(t *testing.T) {
	t.Setenv("CLOUDFLARE_API_TOKEN", "")
	t.Setenv("CAPSTATIC_CLOUDFLARE_TOKEN", "")
	t.Setenv("CAPSTATIC_PURGE_URL", "")
	for name, args := range map[string][]string{
		"NoPurgeURL": {"--cloudflare-zone", cfZone, "--cloudflare-token", cfToken},
		"NoToken":    {"--cloudflare-zone", cfZone, "--purge-url", cfBase},
		"BadURL":     {"--cloudflare-zone", cfZone, "--cloudflare-token", cfToken, "--purge-url", "updates.example.com"},
	} {
		t.Run(name, func(t *testing.T) {
			tree := t.TempDir()
			code, _, errs := cliRun(t, "", append([]string{"publish", writeBuild(t, "1.0.0"), "--store", tree,
				"--app", "com.example.usage", "--version", "1.0.0"}, args...)...)
			assert.Equal(t, exitUsage, code, "exit status; stderr: %s", errs)
			assert.Empty(t, treeFiles(t, tree), "files published")
		})
	}
}
