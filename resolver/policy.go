package resolver

import "github.com/capstatic/capstatic/manifest"

// policy applies a channel's policy checks in the backend's order
// (capgo-protocol.md §1.4 step 7). Version checks compare the target bundle
// with the device's native version, not with its running bundle.
func policy(ch *channel, b *bundle, r *Request, via string) (code, rule string) {
	s, tv, nv := &ch.s, b.version, r.Native
	if code := ch.check[r.Platform]; code != "" {
		return code, "policy.platform"
	}
	mode := s.DisableAutoUpdate
	if mode == manifest.AutoUpdateMajor && tv.Major() > nv.Major() {
		return CodeDisableMajor, "policy.disable_auto_update"
	}
	overridden := via == ViaFile || via == ViaState || via == ViaDevice
	if !s.AllowSelfSet && !ch.public && !overridden {
		return CodePrivateChannel, "policy.private_channel"
	}
	switch {
	case mode == manifest.AutoUpdateMinor && (tv.Major() != nv.Major() || tv.Minor() != nv.Minor()):
		return CodeDisableMinor, "policy.disable_auto_update"
	case mode == manifest.AutoUpdatePatch && (tv.Major() != nv.Major() || tv.Minor() != nv.Minor() || tv.Patch() != nv.Patch()):
		return CodeDisablePatch, "policy.disable_auto_update"
	case mode == manifest.AutoUpdateMetadata && b.minUpdate == nil:
		return CodeMisconfigured, "policy.disable_auto_update"
	case mode == manifest.AutoUpdateMetadata && b.minUpdate.GreaterThan(nv):
		return CodeDisableMetadata, "policy.disable_auto_update"
	}
	if s.DisableUnderNative && tv.LessThan(nv) {
		return CodeDisableUnderNative, "policy.under_native"
	}
	switch {
	case !s.AllowProd && r.IsProd:
		return CodeDisableProd, "policy.build"
	case !s.AllowDev && !r.IsProd:
		return CodeDisableDev, "policy.build"
	case !s.AllowDevice && !r.IsEmulator:
		return CodeDisableDevice, "policy.device"
	case !s.AllowEmulator && r.IsEmulator:
		return CodeDisableEmulator, "policy.device"
	}
	return "", ""
}
