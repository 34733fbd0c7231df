package manifest

// PlatformAnswer is a channel's precomputed answer for one platform: the
// bundle the channel offers there and the outcome of the one policy check
// that depends only on the channel and the platform (DESIGN.md,
// "Precomputed answers"). Checks that need the device — its version, its
// key, its build flags — run at request time, in the backend's order.
type PlatformAnswer struct {
	// Offer is what the channel offers: a bundle id, [Builtin], or ""
	// (no_bundle). A live rollout may offer another bundle to some devices.
	Offer string `json:"offer"`
	// Check is the platform check's refusal code, "disabled_platform_<p>",
	// or "" when the channel serves the platform.
	Check string `json:"check,omitempty"`
}

// PlatformAnswers computes the channel's [PlatformAnswer] for every
// platform from its settings and target.
func (c *Channel) PlatformAnswers() map[string]PlatformAnswer {
	m := make(map[string]PlatformAnswer, len(Platforms))
	for _, p := range Platforms {
		a := PlatformAnswer{Offer: c.Target}
		if !c.Settings.Platform(p) {
			a.Check = "disabled_platform_" + p
		}
		m[p] = a
	}
	return m
}

// Precompute fills every channel's Answers. Writers call it before a state
// is encoded, so the document carries its answers.
func (s *State) Precompute() {
	for _, c := range s.Channels {
		c.Answers = c.PlatformAnswers()
	}
}
