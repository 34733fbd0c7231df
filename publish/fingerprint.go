package publish

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// ErrNoProject is returned by [Fingerprint] for a folder that has neither a
// package.json nor an ios/ or android/ folder.
var ErrNoProject = errors.New("not a Capacitor project (no package.json, ios/ or android/)")

// nativePrefixes are the package name prefixes of Capacitor and Cordova
// plugins and of the native platforms themselves.
var nativePrefixes = []string{"@capacitor/", "@capacitor-", "@capgo/", "@ionic-native/",
	"@awesome-cordova-plugins/", "cordova-plugin-", "capacitor-"}

// pureJS are packages with a native-looking name that hold no native code:
// command-line tools and the JavaScript side of the bridge. Their versions
// change what the web build contains, never what the binary contains.
// (@capacitor/ios and @capacitor/android, which are native, do count.)
var pureJS = map[string]bool{
	"@capacitor/cli": true, "@capacitor/core": true, "@capacitor/docgen": true, "@capacitor/assets": true,
	"@capgo/cli": true, "@ionic-native/core": true, "@awesome-cordova-plugins/core": true,
}

// npmName matches a package name that is safe to join to node_modules/.
var npmName = regexp.MustCompile(`^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$`)

// Fingerprint returns a stable hex digest of the native side of the
// Capacitor project in projectDir: what a binary built from it contains and
// a web bundle may depend on. It covers
//
//   - the native plugins among the dependencies and devDependencies of
//     package.json, with their resolved versions (node_modules/<name>/
//     package.json when installed, else the declared range): packages
//     named like Capacitor or Cordova plugins (@capacitor/…, @capacitor-…,
//     @capgo/…, @ionic-native/…, @awesome-cordova-plugins/…,
//     cordova-plugin-…, capacitor-…) except the pure-JavaScript ones
//     (@capacitor/cli, @capacitor/core, @capgo/cli, …), and any installed
//     package whose package.json has a "capacitor" or "cordova" field or a
//     capacitor/cordova keyword;
//   - every file of ios/ and android/ (relative path and SHA-256, CRLF
//     read as LF so a Windows checkout agrees), leaving out build outputs
//     (Pods, build, DerivedData, .gradle, android/app/release and debug,
//     *.apk, *.aab, *.ipa, *.xcarchive, *.dSYM), tool and machine-local
//     files (xcuserdata, *.xcuserstate, .idea, node_modules, .git,
//     local.properties, .DS_Store), what "cap sync" copies from the web
//     side (the public folders and capacitor.config.json copies), and the
//     version numbers (versionCode/versionName in build.gradle,
//     MARKETING_VERSION/CURRENT_PROJECT_VERSION in project.pbxproj,
//     CFBundleShortVersionString/CFBundleVersion in Info.plist): a build
//     that only bumped its version runs the same bundles.
//
// Web code never influences it, key order in package.json does not, and no
// absolute path or time goes into it, so two checkouts of one commit agree
// (compute it with node_modules installed, as the native build has them).
// A folder that is not a project fails with [ErrNoProject].
func Fingerprint(projectDir string) (string, error) {
	deps, err := nativeDeps(projectDir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "capstatic-fingerprint 1\n")
	for _, d := range deps {
		fmt.Fprintf(h, "dep %q %q\n", d[0], d[1])
	}
	found := deps != nil
	for _, platform := range []string{"ios", "android"} {
		ok, err := hashTree(h, projectDir, platform)
		if err != nil {
			return "", err
		}
		found = found || ok
	}
	if !found {
		return "", fmt.Errorf("%s: %w", projectDir, ErrNoProject)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// packageJSON is the part of a package.json the fingerprint reads.
type packageJSON struct {
	Version         string            `json:"version"`
	Dependencies    map[string]string `json:"dependencies"`
	DevDependencies map[string]string `json:"devDependencies"`
	Capacitor       json.RawMessage   `json:"capacitor"`
	Cordova         json.RawMessage   `json:"cordova"`
	Keywords        []string          `json:"keywords"`
}

func readPackageJSON(p string) (*packageJSON, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var pkg packageJSON
	if err := json.Unmarshal(b, &pkg); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &pkg, nil
}

// nativeDeps returns the native plugins of projectDir's package.json as
// sorted (name, version) pairs: nil when there is no package.json, empty
// but not nil when it has no native plugin.
func nativeDeps(projectDir string) ([][2]string, error) {
	pkg, err := readPackageJSON(filepath.Join(projectDir, "package.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	declared := map[string]string{}
	for name, v := range pkg.DevDependencies {
		declared[name] = v
	}
	for name, v := range pkg.Dependencies {
		declared[name] = v
	}
	deps := [][2]string{}
	for name, spec := range declared {
		if !npmName.MatchString(strings.ToLower(name)) || strings.Contains(name, "..") {
			continue
		}
		installed, err := readPackageJSON(filepath.Join(projectDir, "node_modules", filepath.FromSlash(name), "package.json"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if !isNativePlugin(name, installed) {
			continue
		}
		if installed != nil && installed.Version != "" {
			spec = installed.Version
		}
		deps = append(deps, [2]string{name, spec})
	}
	slices.SortFunc(deps, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return deps, nil
}

// isNativePlugin decides whether dependency name (with its installed
// package.json, nil when not installed) counts toward the fingerprint.
func isNativePlugin(name string, installed *packageJSON) bool {
	if pureJS[name] {
		return false
	}
	for _, p := range nativePrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	if installed == nil {
		return false
	}
	if len(installed.Capacitor) > 0 || len(installed.Cordova) > 0 {
		return true
	}
	for _, k := range installed.Keywords {
		switch strings.ToLower(k) {
		case "capacitor", "capacitor-plugin", "cordova", "ecosystem:cordova":
			return true
		}
	}
	return false
}

// skipNative reports whether rel, a '/'-separated path under the project
// (starting with ios/ or android/), is left out of the fingerprint.
func skipNative(rel string, dir bool) bool {
	base := path.Base(rel)
	switch base {
	case ".idea", "node_modules", ".git", ".DS_Store", "xcuserdata", "capacitor.config.json", "local.properties":
		return true
	}
	for _, ext := range []string{".xcuserstate", ".apk", ".aab", ".ipa", ".xcarchive", ".dSYM"} {
		if strings.HasSuffix(base, ext) {
			return true
		}
	}
	if !dir {
		return false
	}
	switch rel {
	case "android/app/src/main/assets/public", "ios/App/App/public", "android/app/release", "android/app/debug":
		return true
	}
	platform, _, _ := strings.Cut(rel, "/")
	switch {
	case platform == "android" && (base == "build" || base == ".gradle" || base == ".cxx" || base == ".externalNativeBuild"):
		return true
	case platform == "ios" && (base == "Pods" || base == "build" || base == "DerivedData"):
		return true
	}
	return false
}

// hashTree writes one line per file of projectDir/sub into h, in path
// order, and reports whether the folder exists.
func hashTree(h io.Writer, projectDir, sub string) (bool, error) {
	root := filepath.Join(projectDir, sub)
	if info, err := os.Stat(root); err != nil || !info.IsDir() {
		return false, nil
	}
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, err := filepath.Rel(projectDir, p)
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(r)
		if p != root && skipNative(rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			lines = append(lines, fmt.Sprintf("link %q %q\n", rel, filepath.ToSlash(target)))
		case d.Type().IsRegular():
			hash := hashText
			if versionLines(rel) != nil {
				hash = func(p string) (string, error) { return hashWithoutVersions(p, versionLines(rel)) }
			}
			sum, err := hash(p)
			if err != nil {
				return err
			}
			lines = append(lines, fmt.Sprintf("file %q %s\n", rel, sum))
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("fingerprint: %w", err)
	}
	slices.Sort(lines)
	for _, l := range lines {
		io.WriteString(h, l)
	}
	return true, nil
}

// hashText returns the hex SHA-256 of the file at p with every CRLF read
// as LF.
func hashText(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	buf, out := make([]byte, 32<<10), make([]byte, 0, 32<<10+1)
	cr := false // the previous byte was a '\r' not written yet
	for {
		n, err := f.Read(buf)
		out = out[:0]
		for _, c := range buf[:n] {
			if cr && c != '\n' {
				out = append(out, '\r')
			}
			cr = c == '\r'
			if !cr {
				out = append(out, c)
			}
		}
		h.Write(out)
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	if cr {
		h.Write([]byte{'\r'})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Version numbers of the native project, which change with every store
// build while the native code stays the same. They are left out so that a
// build that only bumped its version runs the same bundles; the registry
// tells builds apart by version anyway.
var (
	gradleVersion = regexp.MustCompile(`^\s*(versionCode|versionName)\b`)
	xcodeVersion  = regexp.MustCompile(`^\s*(MARKETING_VERSION|CURRENT_PROJECT_VERSION)\s*=`)
	plistVersion  = regexp.MustCompile(`<key>(CFBundleShortVersionString|CFBundleVersion)</key>`)
)

// versionLines returns the pattern of the version lines of file rel, or nil
// for a file that has none.
func versionLines(rel string) *regexp.Regexp {
	switch base := path.Base(rel); {
	case base == "build.gradle" || base == "build.gradle.kts":
		return gradleVersion
	case base == "project.pbxproj":
		return xcodeVersion
	case base == "Info.plist":
		return plistVersion
	}
	return nil
}

// hashWithoutVersions hashes the text file at p like [hashText], leaving
// out the lines re matches; a matched plist key also drops its value line.
func hashWithoutVersions(p string, re *regexp.Regexp) (string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		if re.MatchString(lines[i]) {
			if re == plistVersion && !strings.Contains(lines[i], "<string>") {
				i++ // the <string> value on the next line
			}
			continue
		}
		io.WriteString(h, lines[i])
		io.WriteString(h, "\n")
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
