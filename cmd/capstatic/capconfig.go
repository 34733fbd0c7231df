package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// capConfig is the part of capacitor.config.json capstatic reads.
type capConfig struct {
	AppID   string `json:"appId"`
	WebDir  string `json:"webDir"`
	Plugins struct {
		CapacitorUpdater struct {
			PublicKey  string `json:"publicKey"`
			PrivateKey string `json:"privateKey"`
			UpdateURL  string `json:"updateUrl"`
		} `json:"CapacitorUpdater"`
	} `json:"plugins"`
	path string
}

// readCapConfig reads capacitor.config.json from dir; a missing file gives
// an empty config.
func readCapConfig(dir string) (*capConfig, error) {
	p := filepath.Join(dir, "capacitor.config.json")
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return &capConfig{}, nil
	}
	if err != nil {
		return nil, err
	}
	c := &capConfig{path: p}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return c, nil
}

// packageVersion returns the "version" of package.json in dir, or "".
func packageVersion(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return ""
	}
	var p struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(b, &p) != nil {
		return ""
	}
	return p.Version
}
