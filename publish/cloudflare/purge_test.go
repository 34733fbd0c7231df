package cloudflare_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/publish/cloudflare"
)

const (
	testZone  = "023e105f4ecef8ad9ca31a8372d0c353"
	testToken = "test-token-with-cache-purge"
)

// api is a stand-in for the Cloudflare API's purge endpoint, written from
// its documentation (developers.cloudflare.com/api/resources/cache/methods/purge),
// not from what the library sends: POST
// /client/v4/zones/{zone_id}/purge_cache, "Authorization: Bearer <token>",
// "Content-Type: application/json", a body {"files": [...]}, and an envelope with "success".
type api struct {
	mu       sync.Mutex
	requests [][]string // the files of each accepted request
	fail     []int      // statuses to answer, in order, before succeeding
}

func newAPI(t *testing.T) (*api, string) {
	t.Helper()
	a := &api{}
	mux := http.NewServeMux()
	mux.HandleFunc("/client/v4/zones/{zone}/purge_cache", a.purge)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return a, srv.URL + "/client/v4"
}

func (a *api) purge(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fail := func(status, code int, msg string) {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"success":false,"errors":[{"code":%d,"message":%q}],"messages":[],"result":null}`, code, msg)
	}
	switch {
	case r.Method != http.MethodPost:
		fail(http.StatusMethodNotAllowed, 10000, "method not allowed")
		return
	case r.PathValue("zone") != testZone:
		fail(http.StatusNotFound, 7003, "Could not route to /zones/"+r.PathValue("zone"))
		return
	case r.Header.Get("Authorization") != "Bearer "+testToken:
		fail(http.StatusForbidden, 10000, "Authentication error")
		return
	case !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"):
		fail(http.StatusBadRequest, 6003, "Invalid request headers")
		return
	}
	if len(a.fail) > 0 {
		status := a.fail[0]
		a.fail = a.fail[1:]
		w.Header().Set("Retry-After", "0")
		fail(status, 10000, "try again")
		return
	}
	raw, _ := io.ReadAll(r.Body)
	var body map[string]json.RawMessage
	var files []string
	if json.Unmarshal(raw, &body) != nil || len(body) != 1 || json.Unmarshal(body["files"], &files) != nil {
		fail(http.StatusBadRequest, 1012, "Request must contain one of \"purge_everything\", \"files\", \"tags\", \"hosts\" or \"prefixes\": "+string(raw))
		return
	}
	a.requests = append(a.requests, files)
	fmt.Fprint(w, `{"success":true,"errors":[],"messages":[],"result":{"id":"`+testZone+`"}}`)
}

func (a *api) got() [][]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.requests
}

func urls(n int) []string {
	u := make([]string, n)
	for i := range u {
		u[i] = fmt.Sprintf("https://updates.example.com/com.example.app%d/current.json", i)
	}
	return u
}

func TestPurger_Purge(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		a, base := newAPI(t)
		p, err := cloudflare.New(cloudflare.Config{Zone: testZone, Token: testToken, BaseURL: base})
		require.NoError(t, err)
		want := []string{"https://updates.example.com/com.example.app/current.json", "https://updates.example.com/index.json"}
		require.NoError(t, p.Purge(t.Context(), want))
		assert.Equal(t, [][]string{want}, a.got())
	})
	t.Run("Split", func(t *testing.T) {
		a, base := newAPI(t)
		p, err := cloudflare.New(cloudflare.Config{Zone: testZone, Token: testToken, BaseURL: base})
		require.NoError(t, err)
		all := urls(cloudflare.MaxFilesPerRequest + 1)
		require.NoError(t, p.Purge(t.Context(), all))
		assert.Equal(t, [][]string{all[:cloudflare.MaxFilesPerRequest], all[cloudflare.MaxFilesPerRequest:]}, a.got())
	})
	t.Run("Nothing", func(t *testing.T) {
		a, base := newAPI(t)
		p, err := cloudflare.New(cloudflare.Config{Zone: testZone, Token: testToken, BaseURL: base})
		require.NoError(t, err)
		require.NoError(t, p.Purge(t.Context(), nil))
		assert.Empty(t, a.got(), "requests for no URL")
	})
	t.Run("BadToken", func(t *testing.T) {
		a, base := newAPI(t)
		p, err := cloudflare.New(cloudflare.Config{Zone: testZone, Token: "wrong", BaseURL: base})
		require.NoError(t, err)
		err = p.Purge(t.Context(), urls(1))
		require.Error(t, err)
		assert.ErrorContains(t, err, "403")
		assert.ErrorContains(t, err, "Authentication error")
		assert.Empty(t, a.got())
	})
	t.Run("WrongZone", func(t *testing.T) {
		_, base := newAPI(t)
		p, err := cloudflare.New(cloudflare.Config{Zone: "0000", Token: testToken, BaseURL: base, Retries: -1})
		require.NoError(t, err)
		assert.ErrorContains(t, p.Purge(t.Context(), urls(1)), "404")
	})
	t.Run("Retry", func(t *testing.T) {
		a, base := newAPI(t)
		a.fail = []int{http.StatusServiceUnavailable, http.StatusTooManyRequests}
		p, err := cloudflare.New(cloudflare.Config{Zone: testZone, Token: testToken, BaseURL: base})
		require.NoError(t, err)
		require.NoError(t, p.Purge(t.Context(), urls(1)), "Purge after two transient failures")
		assert.Len(t, a.got(), 1)
	})
	t.Run("NoRetry", func(t *testing.T) {
		a, base := newAPI(t)
		a.fail = []int{http.StatusServiceUnavailable}
		p, err := cloudflare.New(cloudflare.Config{Zone: testZone, Token: testToken, BaseURL: base, Retries: -1})
		require.NoError(t, err)
		assert.ErrorContains(t, p.Purge(t.Context(), urls(1)), "503")
		assert.Empty(t, a.got())
	})
}

func TestNew_Config(t *testing.T) {
	_, err := cloudflare.New(cloudflare.Config{Token: testToken})
	assert.ErrorContains(t, err, "no zone id")
	_, err = cloudflare.New(cloudflare.Config{Zone: testZone})
	assert.ErrorContains(t, err, "no API token")
}
