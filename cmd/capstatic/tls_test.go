package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "capstatic test"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestServe_TLS: with --tls-cert and --tls-key the resolver answers over
// HTTPS, and answer URLs use the https public URL.
func TestServe_TLS(t *testing.T) {
	const app = "com.example.tls"
	tree := t.TempDir()
	cliMust(t, "publish", writeBuild(t, "1.0.1"), "--store", tree, "--app", app, "--version", "1.0.1", "--quiet")
	certFile, keyFile, pool := selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "--store", tree, "--addr", addr, "--stats", "none",
			"--tls-cert", certFile, "--tls-key", keyFile, "--public-url", "https://" + addr}, nil, &syncBuffer{}, &syncBuffer{})
	}()
	defer func() { cancel(); <-done }()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	body, _ := json.Marshal(map[string]any{"app_id": app, "device_id": "6f1c2d3e-0000-4000-8000-000000000001",
		"version_name": "builtin", "version_build": "1.0.0", "plugin_version": "8.51.23", "platform": "ios",
		"is_emulator": false, "is_prod": true, "defaultChannel": ""})
	var resp *http.Response
	require.Eventually(t, func() bool {
		resp, err = client.Post("https://"+addr+"/updates", "application/json", bytes.NewReader(body))
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "serve never answered over TLS")
	defer resp.Body.Close()
	var got map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	assert.Equal(t, "1.0.1", got["version"])
	assert.Regexp(t, `^https://127\.0\.0\.1:\d+/files/`+app+`/bundles/`, got["url"])
	zip, err := client.Get(got["url"].(string))
	require.NoError(t, err)
	zip.Body.Close()
	assert.Equal(t, http.StatusOK, zip.StatusCode, "the bundle downloads over TLS")
}
