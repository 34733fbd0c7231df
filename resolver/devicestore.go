package resolver

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// ErrStoreFull is returned when a [DeviceStore] holds its maximum number of
// entries.
var ErrStoreFull = errors.New("device override store is full")

// DeviceStore keeps the channel overrides that older plugins ask the server
// to remember (channel_self POST from plugins below x.34). It is a JSON file
// rewritten atomically on every change, bounded to Max entries. It belongs
// to one resolver instance: several instances must share nothing or be
// given one shared location (a network folder, a single writer).
type DeviceStore struct {
	path string
	// Max bounds the number of entries.
	Max int

	mu sync.RWMutex
	m  map[string]string // "app device" → channel
}

// OpenDeviceStore opens (or creates on first write) the store at path.
func OpenDeviceStore(path string, max int) (*DeviceStore, error) {
	s := &DeviceStore{path: path, Max: max, m: map[string]string{}}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, err
	}
	if err := json.Unmarshal(b, &s.m); err != nil {
		return nil, fmt.Errorf("device store %s: %w", path, err)
	}
	return s, nil
}

// Lookup implements [Lookup].
func (s *DeviceStore) Lookup(app, device string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.m[app+" "+device]
	return c, ok
}

// Set stores device's channel for app.
func (s *DeviceStore) Set(app, device, channel string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := app + " " + device
	if _, ok := s.m[k]; !ok && len(s.m) >= s.Max {
		return ErrStoreFull
	}
	old, had := s.m[k]
	s.m[k] = channel
	if err := s.save(); err != nil {
		if had {
			s.m[k] = old
		} else {
			delete(s.m, k)
		}
		return err
	}
	return nil
}

// Delete removes device's override for app.
func (s *DeviceStore) Delete(app, device string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := app + " " + device
	old, ok := s.m[k]
	if !ok {
		return nil
	}
	delete(s.m, k)
	if err := s.save(); err != nil {
		s.m[k] = old
		return err
	}
	return nil
}

func (s *DeviceStore) save() error {
	b, err := json.Marshal(s.m)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".devices-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.path)
}
