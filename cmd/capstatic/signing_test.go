package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/manifest"
)

const sgnApp = "com.example.signed"

// sgnKey creates a signing key pair in a new folder and returns the
// private key file (the public key is FILE.pub).
func sgnKey(t *testing.T) string {
	t.Helper()
	key := filepath.Join(t.TempDir(), "signing.key")
	cliMust(t, "signing-key", "create", "--out", key)
	return key
}

// sgnPublish publishes a small web build as version v of sgnApp.
func sgnPublish(t *testing.T, tree, v string, extra ...string) {
	t.Helper()
	web := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(web, "index.html"), []byte("<html>"+v+"</html>"), 0o644))
	cliMust(t, append([]string{"publish", web, "--store", tree, "--app", sgnApp, "--version", v,
		"--channel", "production", "--quiet"}, extra...)...)
}

func sgnPointerBytes(t *testing.T, tree string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tree, sgnApp, "current.json"))
	require.NoError(t, err)
	return b
}

func sgnPointer(t *testing.T, tree string) *manifest.Pointer {
	t.Helper()
	p, err := manifest.DecodePointer(sgnPointerBytes(t, tree))
	require.NoError(t, err)
	return p
}

func sgnState(t *testing.T, tree string, p *manifest.Pointer) *manifest.State {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tree, filepath.FromSlash(manifest.StatePath(sgnApp, p.State))))
	require.NoError(t, err)
	st, err := manifest.DecodeState(b)
	require.NoError(t, err)
	return st
}

func sgnWritePointer(t *testing.T, tree string, b []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(tree, sgnApp, "current.json"), b, 0o644))
}

// sgnServe runs "capstatic serve" with args on a free loopback port until
// the test ends, with a pointer TTL of 0 so that every request re-reads
// the pointer. It returns the base URL and serve's stderr (its log).
func sgnServe(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan int, 1)
	args = append([]string{"serve", "--addr", addr, "--stats", "none", "--ttl", "0s"}, args...)
	go func() { done <- Run(ctx, args, strings.NewReader(""), &syncBuffer{}, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("serve did not shut down")
		}
	})
	base := "http://" + addr
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		select {
		case code := <-done:
			done <- code // for the cleanup
			t.Fatalf("serve exited with %d: %s", code, logs.String())
		default:
		}
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		require.True(t, time.Now().Before(deadline), "serve never answered: %s", logs.String())
	}
	return base, logs
}

// sgnUpdate asks base for an update as an Android device on its builtin
// 1.0.0 and returns the status and the answer.
func sgnUpdate(t *testing.T, base string) (int, map[string]any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"app_id": sgnApp, "device_id": "6f1c2d3e-0000-4000-8000-00000000000a",
		"version_name": "builtin", "version_build": "1.0.0", "version_code": "1", "version_os": "14",
		"plugin_version": "8.51.23", "platform": "android", "is_emulator": false, "is_prod": true,
		"defaultChannel": "", "custom_id": ""})
	require.NoError(t, err)
	resp, err := http.Post(base+"/updates", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var got map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	return resp.StatusCode, got
}

// sgnOffered returns the version base offers, "" for none.
func sgnOffered(t *testing.T, base string) string {
	t.Helper()
	code, got := sgnUpdate(t, base)
	require.Equal(t, http.StatusOK, code, "answer %v", got)
	v, _ := got["version"].(string)
	return v
}

func TestSigningKey_Create(t *testing.T) {
	t.Parallel()
	key := filepath.Join(t.TempDir(), "k.key")
	out := cliMust(t, "signing-key", "create", "--out", key, "--json")
	var res map[string]string
	require.NoError(t, json.Unmarshal([]byte(out), &res))

	info, err := os.Stat(key)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "private key mode")
	priv, err := readSigningKey(key)
	require.NoError(t, err)
	pub, err := readSigningPub(key + ".pub")
	require.NoError(t, err)
	assert.Equal(t, priv.Public().(ed25519.PublicKey), pub)
	id := manifest.SigningKeyID(pub)
	assert.Equal(t, map[string]string{"type": "signing_key", "key_id": id, "private": key, "public": key + ".pub"}, res)

	ids := cliMust(t, "signing-key", "id", key, key+".pub")
	assert.Equal(t, id+"  "+key+"\n"+id+"  "+key+".pub\n", ids)

	code, _, errs := cliRun(t, "", "signing-key", "create", "--out", key)
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, errs, "--force")
	cliMust(t, "signing-key", "create", "--out", key, "--force")
	priv2, err := readSigningKey(key)
	require.NoError(t, err)
	assert.NotEqual(t, priv, priv2, "--force replaced the key")

	_, err = readSigningPub(key)
	assert.ErrorContains(t, err, "is a private key")
	code, _, _ = cliRun(t, "", "signing-key", "rotate")
	assert.Equal(t, exitUsage, code)
}

// TestSigning_EndToEnd publishes with --signing-key and serves with
// --signing-pub: signed publishes are picked up, an unsigned one is
// refused (and logged) while the last good state keeps serving, and the
// trust state file records the sequence.
func TestSigning_EndToEnd(t *testing.T) {
	t.Parallel()
	key := sgnKey(t)
	tree := t.TempDir()
	sgnPublish(t, tree, "1.0.1", "--signing-key", key)
	p := sgnPointer(t, tree)
	pub, err := readSigningPub(key + ".pub")
	require.NoError(t, err)
	assert.Equal(t, manifest.SigningKeyID(pub), p.SignKey)
	require.NotNil(t, p.Expires)
	assert.WithinDuration(t, time.Now().Add(defaultSigningTTL), *p.Expires, time.Minute)

	trustState := filepath.Join(t.TempDir(), "trust.json")
	base, logs := sgnServe(t, "--store", tree, "--signing-pub", key+".pub", "--trust-state", trustState)
	assert.Equal(t, "1.0.1", sgnOffered(t, base))

	sgnPublish(t, tree, "1.0.2") // forgot the key
	assert.Equal(t, "1.0.1", sgnOffered(t, base), "an unsigned pointer is refused")
	assert.Contains(t, logs.String(), manifest.ErrUnsigned.Error())

	sgnPublish(t, tree, "1.0.3", "--signing-key", key)
	assert.Equal(t, "1.0.3", sgnOffered(t, base))
	raw, err := os.ReadFile(trustState)
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"seq": 3`)

	// A channel operation signs too (appFlags).
	cliMust(t, "channel", "set", "production", "--store", tree, "--app", sgnApp, "--signing-key", key, "--zip-only")
	assert.NotEmpty(t, sgnPointer(t, tree).Signature)
}

// TestSigning_Env checks the environment twin of --signing-key.
func TestSigning_Env(t *testing.T) {
	key := sgnKey(t)
	tree := t.TempDir()
	t.Setenv("CAPSTATIC_SIGNING_KEY", key)
	t.Setenv("CAPSTATIC_SIGNING_TTL", "2h")
	sgnPublish(t, tree, "1.0.1")
	p := sgnPointer(t, tree)
	assert.NotEmpty(t, p.Signature)
	require.NotNil(t, p.Expires)
	assert.WithinDuration(t, time.Now().Add(2*time.Hour), *p.Expires, time.Minute)
}

// TestResign checks that resign renews the expiry with the next sequence
// number, the state otherwise unchanged, and that a resolver takes it.
func TestResign(t *testing.T) {
	t.Parallel()
	key := sgnKey(t)
	tree := t.TempDir()
	sgnPublish(t, tree, "1.0.1", "--signing-key", key, "--signing-ttl", "1h")
	before := sgnPointer(t, tree)
	base, _ := sgnServe(t, "--store", tree, "--signing-pub", key+".pub")
	assert.Equal(t, "1.0.1", sgnOffered(t, base))

	out := cliMust(t, "resign", "--store", tree, "--app", sgnApp, "--signing-key", key, "--ttl", "168h")
	assert.Contains(t, out, "re-signed")
	after := sgnPointer(t, tree)
	assert.Equal(t, before.Seq+1, after.Seq)
	require.NotNil(t, after.Expires)
	assert.WithinDuration(t, time.Now().Add(168*time.Hour), *after.Expires, time.Minute)

	st1, st2 := sgnState(t, tree, before), sgnState(t, tree, after)
	st1.Seq, st2.Seq, st1.Updated, st2.Updated = 0, 0, time.Time{}, time.Time{}
	assert.Equal(t, st1, st2, "a re-sign changes nothing but the sequence and the time")
	assert.Equal(t, "1.0.1", sgnOffered(t, base))
	assert.Eventually(t, func() bool {
		resp, err := http.Get(base + "/files/" + manifest.PointerPath(sgnApp))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var p manifest.Pointer
		return json.NewDecoder(resp.Body).Decode(&p) == nil && p.Seq == after.Seq
	}, 5*time.Second, 10*time.Millisecond)

	code, _, errs := cliRun(t, "", "resign", "--store", tree, "--app", sgnApp)
	assert.Equal(t, exitUsage, code, errs)
	code, _, _ = cliRun(t, "", "resign", "--store", tree, "--app", "com.example.none", "--signing-key", key)
	assert.Equal(t, exitFailure, code)
}

// TestSigning_Tampered checks what a host without the key can do to a
// resolver given --signing-pub: an edited pointer, an old pointer replayed
// and a pointer signed by another key are refused by a running resolver
// (which keeps the last good state) and by one that starts afresh with a
// trust state (which then knows no state for the app).
func TestSigning_Tampered(t *testing.T) {
	t.Parallel()
	key, other := sgnKey(t), sgnKey(t)
	tree := t.TempDir()
	sgnPublish(t, tree, "1.0.1", "--signing-key", key)
	old := sgnPointerBytes(t, tree)
	sgnPublish(t, tree, "1.0.2", "--signing-key", key)
	good := sgnPointerBytes(t, tree)
	trustState := filepath.Join(t.TempDir(), "trust.json")
	base, logs := sgnServe(t, "--store", tree, "--signing-pub", key+".pub", "--trust-state", trustState)
	require.Equal(t, "1.0.2", sgnOffered(t, base))

	otherKey, err := readSigningKey(other)
	require.NoError(t, err)
	extended := sgnPointer(t, tree)
	far := extended.Expires.Add(365 * 24 * time.Hour)
	extended.Expires = &far
	resigned := sgnPointer(t, tree)
	resigned.Seq++
	resigned.Sign(otherKey, time.Now().Add(time.Hour))
	cases := []struct {
		name string
		ptr  []byte
		log  string
	}{
		{"expiry extended", encodePtr(t, extended), manifest.ErrBadSignature.Error()},
		{"old pointer replayed", old, "rolls back"},
		{"signed by another key", encodePtr(t, resigned), "untrusted key"},
	}
	for _, tc := range cases {
		sgnWritePointer(t, tree, tc.ptr)
		assert.Equal(t, "1.0.2", sgnOffered(t, base), "%s: the last good state keeps serving", tc.name)
		assert.Contains(t, logs.String(), tc.log, tc.name)

		fresh, _ := sgnServe(t, "--store", tree, "--signing-pub", key+".pub", "--trust-state", trustState)
		code, got := sgnUpdate(t, fresh)
		assert.Equal(t, http.StatusTooManyRequests, code, "%s: a fresh resolver knows no state: %v", tc.name, got)
	}

	// Without --signing-pub the replayed pointer is served: what signing
	// protects against.
	sgnWritePointer(t, tree, old)
	plain, _ := sgnServe(t, "--store", tree)
	assert.Equal(t, "1.0.1", sgnOffered(t, plain))
	sgnWritePointer(t, tree, good)
	assert.Equal(t, "1.0.2", sgnOffered(t, base))
}

func encodePtr(t *testing.T, p *manifest.Pointer) []byte {
	t.Helper()
	b, err := manifest.EncodePointer(p)
	require.NoError(t, err)
	return b
}
