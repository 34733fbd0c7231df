package resolver

import (
	"fmt"
	"strings"
)

// Explanation is a human-readable account of a decision: the facts each
// step of [Resolve] used, in order, and the answer sent.
type Explanation struct {
	Rule    string   `json:"rule"`
	Code    string   `json:"code"`
	Channel string   `json:"channel,omitempty"`
	Via     string   `json:"via,omitempty"`
	Version string   `json:"version,omitempty"`
	Bucket  int      `json:"bucket"`
	Steps   []string `json:"steps"`
	Answer  string   `json:"answer"`
}

// Explain resolves r against a and explains the decision.
func Explain(a *App, r *Request, ov Overrides) Explanation {
	d := Resolve(a, r, ov)
	x := Explanation{Rule: d.Rule, Code: d.Code, Channel: d.Channel, Via: d.Via, Version: d.Version(), Bucket: d.Bucket}
	f := r.Features
	add := func(format string, args ...any) { x.Steps = append(x.Steps, fmt.Sprintf(format, args...)) }
	add("plugin %s: %s", r.PluginVersion, featureText(f))
	add("native version %s, running bundle %s%s", r.VersionBuild, r.VersionName, map[bool]string{true: " (builtin)"}[r.OnBuiltin])
	if d.Channel == "" && d.Code == CodeNoChannel {
		add("no channel: no override, defaultChannel %q does not name a usable channel, no %s default", r.DefaultChannel, r.Platform)
	} else if d.Channel != "" {
		add("channel %s chosen by %s", d.Channel, d.Via)
	}
	if s := a.nativeStep(&d, r); s != "" {
		add("%s", s)
	}
	if d.Bucket >= 0 {
		ch := a.channels[d.Channel]
		add("rollout: device bucket %d, share %d of 10000 ⇒ %s bundle", d.Bucket, ch.bps, map[bool]string{true: "rollout", false: "stable"}[d.InRollout])
	}
	if v := d.Version(); v != "" {
		add("target version %s", v)
	}
	add("decided by rule %s ⇒ %s", d.Rule, codeText(d.Code))
	x.Answer = string(a.AppendAnswer(nil, &d, r))
	return x
}

func featureText(f Features) string {
	if f.Unsupported {
		return "unsupported (major ≤ 4)"
	}
	var p []string
	if f.Legacy {
		p = append(p, "legacy generation")
	}
	p = append(p, map[bool]string{true: "sha256 checksum", false: "crc32 checksum"}[f.SHA256])
	p = append(p, "encryption "+f.Scheme)
	if f.Manifest {
		p = append(p, "delta manifests")
	}
	if f.BuiltinRevert {
		p = append(p, "builtin revert")
	}
	if f.StatelessChannel {
		p = append(p, "stores its own channel")
	}
	return strings.Join(p, ", ")
}

func codeText(code string) string {
	if code == "" {
		return "update offered"
	}
	return code
}
