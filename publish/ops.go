package publish

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/capstatic/capstatic/manifest"
)

// Errors of operations on channels.
var (
	ErrNoChannel = errors.New("no such channel")
	ErrNoVersion = errors.New("no such version")
)

// Update applies fn to a copy of app's current state and commits the result
// as the next state (one pointer flip). fn may call [Publisher.Bundle] to
// load bundle records that are not live.
func (p *Publisher) Update(ctx context.Context, app string, fn func(st *manifest.State) error) (*manifest.Pointer, error) {
	head, err := Load(ctx, p.Store, app)
	if err != nil {
		return nil, err
	}
	st := head.State.Clone()
	st.Seq++
	if err := fn(st); err != nil {
		return nil, err
	}
	st.Precompute() // the answers follow the change before it is validated
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return Commit(ctx, p.Store, head, st, p.Sign, p.now())
}

// Bundle returns the record of version, from st when it is live and from
// the store otherwise, and adds it to st.Bundles.
func (p *Publisher) Bundle(ctx context.Context, st *manifest.State, version string) (*manifest.Bundle, error) {
	id, ok := st.Versions[version]
	if !ok {
		return nil, fmt.Errorf("%s %s: %w", st.App, version, ErrNoVersion)
	}
	if b := st.Bundles[id.String()]; b != nil {
		return b, nil
	}
	raw, err := readAll(ctx, p.Store, manifest.BundleRecordPath(st.App, id), manifest.MaxBundleSize)
	if err != nil {
		return nil, err
	}
	b, err := manifest.DecodeBundle(st.App, raw)
	if err != nil {
		return nil, err
	}
	if b.ID != id || b.Version != version {
		return nil, fmt.Errorf("bundle record of %s %s: %w", st.App, version, manifest.ErrDigestMismatch)
	}
	if st.Bundles == nil {
		st.Bundles = map[string]*manifest.Bundle{}
	}
	st.Bundles[id.String()] = b
	return b, nil
}

// Channel returns the named channel of st.
func Channel(st *manifest.State, name string) (*manifest.Channel, error) {
	ch := st.Channels[name]
	if ch == nil {
		return nil, fmt.Errorf("channel %q of %s: %w", name, st.App, ErrNoChannel)
	}
	return ch, nil
}

// Target sets what a channel offers ("" nothing, [manifest.Builtin], or a
// bundle id) and records it in the channel's history under action.
func Target(st *manifest.State, name, target, version, action string, now Clock) error {
	ch, err := Channel(st, name)
	if err != nil {
		return err
	}
	ch.Target = target
	ch.History = append(ch.History, manifest.Event{Seq: st.Seq, Time: now.now().UTC(), Action: action,
		Target: target, Version: version})
	return nil
}

// Clock returns the current time; nil means time.Now.
type Clock func() time.Time

func (c Clock) now() time.Time {
	if c == nil {
		return time.Now()
	}
	return c()
}

// Promote makes channel to offer exactly the bundle channel from offers.
func Promote(st *manifest.State, from, to string, now Clock) error {
	src, err := Channel(st, from)
	if err != nil {
		return err
	}
	if src.Target == "" {
		return fmt.Errorf("channel %q has no bundle to promote", from)
	}
	version := manifest.Builtin
	if b := st.Bundle(src.Target); b != nil {
		version = b.Version
	}
	return Target(st, to, src.Target, version, "promote from "+from, now)
}

// Rollback returns channel to an earlier history entry: the one for
// version, or the entry before the current one when version is "". Every
// entry after it is marked rolled back.
func Rollback(st *manifest.State, name, version string, now Clock) (string, error) {
	ch, err := Channel(st, name)
	if err != nil {
		return "", err
	}
	for i := len(ch.History) - 1; i >= 0; i-- {
		e := ch.History[i]
		if e.Target == ch.Target || e.RolledBack || (version != "" && e.Version != version) {
			continue
		}
		for j := i + 1; j < len(ch.History); j++ {
			ch.History[j].RolledBack = true
		}
		return e.Version, Target(st, name, e.Target, e.Version, "rollback", now)
	}
	if version != "" {
		return "", fmt.Errorf("version %s is not in the history of channel %q", version, name)
	}
	return "", fmt.Errorf("channel %q has no earlier entry to roll back to", name)
}

// SetRollout offers bundle (by id) to bps basis points of the channel's
// devices. A new rollout bundle draws a new salt; changing the share of the
// same bundle keeps the salt, so raising it only adds devices.
func SetRollout(st *manifest.State, name string, b *manifest.Bundle, bps int) error {
	ch, err := Channel(st, name)
	if err != nil {
		return err
	}
	if bps < 0 || bps > 10000 {
		return fmt.Errorf("rollout share %d basis points out of range 0–10000", bps)
	}
	id := b.ID.String()
	if ch.Rollout != nil && ch.Rollout.Target == id {
		ch.Rollout.BPS, ch.Rollout.Paused = bps, false
		return nil
	}
	ch.Rollout = &manifest.Rollout{Target: id, BPS: bps, Salt: NewSalt()}
	return nil
}

// NewSalt returns 16 random bytes in hex.
func NewSalt() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// RolloutAction pauses, resumes, aborts or finishes a channel's rollout:
// pause freezes the share; abort sets it to zero (devices go back to the
// stable bundle); finish makes the rollout bundle the stable one.
func RolloutAction(st *manifest.State, name, action string, now Clock) error {
	ch, err := Channel(st, name)
	if err != nil {
		return err
	}
	r := ch.Rollout
	if r == nil {
		return fmt.Errorf("channel %q has no rollout", name)
	}
	switch action {
	case "pause":
		r.Paused = true
	case "resume":
		r.Paused = false
	case "abort":
		r.BPS, r.Paused = 0, true
	case "finish":
		b := st.Bundle(r.Target)
		ch.Rollout = nil
		return Target(st, name, b.ID.String(), b.Version, "rollout finish", now)
	default:
		return fmt.Errorf("unknown rollout action %q (want pause, resume, abort or finish)", action)
	}
	return nil
}
