package publish_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/publish"
)

// fpProject returns the files of a small Capacitor project: native plugins
// (installed, uninstalled, and one recognised by its "capacitor" field),
// pure-JavaScript dependencies, ios/ and android/ sources, build outputs,
// and the web assets "cap sync" copies into the native projects.
func fpProject() map[string]string {
	return map[string]string{
		"package.json": `{"name":"app","version":"1.2.3",
			"dependencies":{"@capacitor/core":"^6.0.0","@capacitor/android":"^6.0.0","@capacitor/ios":"^6.0.0",
				"@capgo/capacitor-updater":"^6.0.0","@capacitor-community/sqlite":"^6.0.0","native-thing":"^1.0.0","lodash":"^4.17.0"},
			"devDependencies":{"@capacitor/cli":"^6.0.0","typescript":"^5.0.0"}}`,
		"node_modules/@capacitor/core/package.json":              `{"name":"@capacitor/core","version":"6.1.2"}`,
		"node_modules/@capacitor/cli/package.json":               `{"name":"@capacitor/cli","version":"6.1.2"}`,
		"node_modules/@capacitor/android/package.json":           `{"name":"@capacitor/android","version":"6.1.2"}`,
		"node_modules/@capacitor/ios/package.json":               `{"name":"@capacitor/ios","version":"6.1.2"}`,
		"node_modules/@capgo/capacitor-updater/package.json":     `{"name":"@capgo/capacitor-updater","version":"6.2.0"}`,
		"node_modules/native-thing/package.json":                 `{"name":"native-thing","version":"1.0.5","capacitor":{"android":{"src":"android"}}}`,
		"node_modules/lodash/package.json":                       `{"name":"lodash","version":"4.17.21"}`,
		"node_modules/typescript/package.json":                   `{"name":"typescript","version":"5.4.0"}`,
		"android/build.gradle":                                   "buildscript {}\n",
		"android/app/build.gradle":                               "android { defaultConfig {\n  versionCode 1\n  versionName \"1.0.0\"\n} }\n",
		"android/app/src/main/AndroidManifest.xml":               "<manifest/>\n",
		"android/app/src/main/java/com/example/Main.java":        "class Main {}\n",
		"android/app/src/main/assets/capacitor.config.json":      `{"appId":"com.example.app"}`,
		"android/app/src/main/assets/public/index.html":          "<p>web copy</p>",
		"android/app/build/outputs/apk/debug/app-debug.apk":      "apk",
		"android/build/tmp/x":                                    "tmp",
		"android/.gradle/8.0/checksums":                          "gradle cache",
		"android/.idea/workspace.xml":                            "<idea/>",
		"android/local.properties":                               "sdk.dir=/home/someone/Android/Sdk\n",
		"ios/App/Podfile":                                        "platform :ios, '13.0'\n",
		"ios/App/Podfile.lock":                                   "PODS:\n  - Capacitor (6.1.2)\n",
		"ios/App/App/AppDelegate.swift":                          "import UIKit\n",
		"ios/App/App/capacitor.config.json":                      `{"appId":"com.example.app"}`,
		"ios/App/App/public/index.html":                          "<p>web copy</p>",
		"ios/App/Pods/Capacitor/x.swift":                         "pod",
		"ios/App/build/x.o":                                      "obj",
		"ios/App/App.xcodeproj/project.pbxproj":                  "// pbxproj\n\t\t\t\tMARKETING_VERSION = 1.0;\n\t\t\t\tCURRENT_PROJECT_VERSION = 1;\n",
		"ios/App/App/Info.plist":                                 "<dict>\n<key>CFBundleShortVersionString</key>\n<string>1.0</string>\n</dict>\n",
		"ios/App/App.xcworkspace/xcuserdata/me.xcuserdatad/a":    "user",
		"ios/App/App.xcworkspace/UserInterfaceState.xcuserstate": "state",
		"www/index.html":                                         "<p>web</p>",
		"src/main.ts":                                            "console.log('web')\n",
		"capacitor.config.json":                                  `{"appId":"com.example.app","webDir":"www"}`,
	}
}

func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	return dir
}

func fingerprint(t *testing.T, dir string) string {
	t.Helper()
	fp, err := publish.Fingerprint(dir)
	require.NoError(t, err, "Fingerprint(%s)", dir)
	require.Len(t, fp, 64)
	return fp
}

// TestFingerprint_Stable: the digest depends neither on where the project
// lies nor on the key order of package.json.
func TestFingerprint_Stable(t *testing.T) {
	files := fpProject()
	want := fingerprint(t, writeProject(t, files))
	assert.Equal(t, want, fingerprint(t, writeProject(t, files)), "same project in another folder")

	var pkg map[string]any
	require.NoError(t, json.Unmarshal([]byte(files["package.json"]), &pkg))
	reordered := `{"devDependencies":{"typescript":"^5.0.0","@capacitor/cli":"^6.0.0"},"version":"1.2.3",` +
		`"dependencies":{"lodash":"^4.17.0","native-thing":"^1.0.0","@capacitor-community/sqlite":"^6.0.0",` +
		`"@capgo/capacitor-updater":"^6.0.0","@capacitor/ios":"^6.0.0","@capacitor/android":"^6.0.0","@capacitor/core":"^6.0.0"},"name":"app"}`
	var re map[string]any
	require.NoError(t, json.Unmarshal([]byte(reordered), &re))
	require.Equal(t, pkg, re, "the reordered package.json says the same")
	files["package.json"] = reordered
	assert.Equal(t, want, fingerprint(t, writeProject(t, files)), "package.json with keys in another order")
}

// TestFingerprint_Changes: native plugin versions and native sources
// change the digest; web code, pure-JavaScript dependencies, build outputs,
// machine-local files and the web assets copied into native projects do
// not.
func TestFingerprint_Changes(t *testing.T) {
	base := fingerprint(t, writeProject(t, fpProject()))
	cases := []struct {
		name    string
		edit    func(files map[string]string)
		changed bool
	}{
		{"installed native plugin version", func(f map[string]string) {
			f["node_modules/@capgo/capacitor-updater/package.json"] = `{"name":"@capgo/capacitor-updater","version":"6.2.1"}`
		}, true},
		{"capacitor platform version", func(f map[string]string) {
			f["node_modules/@capacitor/android/package.json"] = `{"name":"@capacitor/android","version":"6.2.0"}`
		}, true},
		{"declared range of an uninstalled plugin", func(f map[string]string) {
			f["package.json"] = strings.Replace(f["package.json"], `"@capacitor-community/sqlite":"^6.0.0"`, `"@capacitor-community/sqlite":"^6.1.0"`, 1)
		}, true},
		{"plugin added", func(f map[string]string) {
			f["package.json"] = strings.Replace(f["package.json"], `"lodash"`, `"cordova-plugin-camera":"^7.0.0","lodash"`, 1)
		}, true},
		{"plugin found by its capacitor field", func(f map[string]string) {
			f["node_modules/native-thing/package.json"] = `{"name":"native-thing","version":"1.0.6","capacitor":{"android":{"src":"android"}}}`
		}, true},
		{"android source", func(f map[string]string) {
			f["android/app/src/main/java/com/example/Main.java"] = "class Main { int x; }\n"
		}, true},
		{"ios source", func(f map[string]string) { f["ios/App/App/AppDelegate.swift"] = "import UIKit // changed\n" }, true},
		{"gradle build logic", func(f map[string]string) {
			f["android/app/build.gradle"] = "android { defaultConfig {\n  versionCode 1\n  versionName \"1.0.0\"\n  minSdkVersion 24\n} }\n"
		}, true},
		{"plist content", func(f map[string]string) {
			f["ios/App/App/Info.plist"] = "<dict>\n<key>CFBundleShortVersionString</key>\n<string>1.0</string>\n<key>NSCameraUsageDescription</key>\n</dict>\n"
		}, true},
		{"native file added", func(f map[string]string) { f["android/app/src/main/res/values/strings.xml"] = "<resources/>" }, true},
		{"Podfile.lock", func(f map[string]string) { f["ios/App/Podfile.lock"] = "PODS:\n  - Capacitor (6.1.3)\n" }, true},

		{"web code", func(f map[string]string) { f["www/index.html"] = "<p>new web</p>"; f["src/main.ts"] = "x()\n" }, false},
		{"web copies in native projects", func(f map[string]string) {
			f["android/app/src/main/assets/public/index.html"] = "<p>new</p>"
			f["ios/App/App/public/index.html"] = "<p>new</p>"
			f["ios/App/App/public/assets/new.js"] = "x"
		}, false},
		{"capacitor.config.json and its copies", func(f map[string]string) {
			f["capacitor.config.json"] = `{"appId":"com.example.app","webDir":"dist"}`
			f["android/app/src/main/assets/capacitor.config.json"] = `{}`
			f["ios/App/App/capacitor.config.json"] = `{}`
		}, false},
		{"build outputs", func(f map[string]string) {
			f["android/app/build/outputs/apk/debug/app-debug.apk"] = "apk2"
			f["android/build/tmp/y"] = "y"
			f["android/.gradle/8.0/more"] = "z"
			f["ios/App/Pods/Capacitor/y.swift"] = "pod2"
			f["ios/App/build/y.o"] = "obj2"
		}, false},
		{"machine-local files", func(f map[string]string) {
			f["android/local.properties"] = "sdk.dir=C:\\Users\\other\\Sdk\n"
			f["android/.idea/workspace.xml"] = "<idea2/>"
			f["ios/App/App.xcworkspace/UserInterfaceState.xcuserstate"] = "state2"
			f["ios/App/App.xcworkspace/xcuserdata/you.xcuserdatad/b"] = "user2"
			f["ios/.DS_Store"] = "ds"
		}, false},
		{"pure-JavaScript dependencies", func(f map[string]string) {
			f["node_modules/lodash/package.json"] = `{"name":"lodash","version":"4.17.22"}`
			f["node_modules/@capacitor/cli/package.json"] = `{"name":"@capacitor/cli","version":"6.1.3"}`
			f["node_modules/@capacitor/core/package.json"] = `{"name":"@capacitor/core","version":"6.1.3"}`
			f["node_modules/typescript/package.json"] = `{"name":"typescript","version":"5.5.0"}`
		}, false},
		{"native version numbers only", func(f map[string]string) {
			f["android/app/build.gradle"] = "android { defaultConfig {\n  versionCode 7\n  versionName \"1.1.0\"\n} }\n"
			f["ios/App/App.xcodeproj/project.pbxproj"] = "// pbxproj\n\t\t\t\tMARKETING_VERSION = 1.1.0;\n\t\t\t\tCURRENT_PROJECT_VERSION = 7;\n"
			f["ios/App/App/Info.plist"] = "<dict>\n<key>CFBundleShortVersionString</key>\n<string>1.1.0</string>\n</dict>\n"
		}, false},
		{"release outputs", func(f map[string]string) {
			f["android/app/release/app-release.aab"] = "aab"
			f["ios/App/App.ipa"] = "ipa"
		}, false},
		{"CRLF checkout", func(f map[string]string) {
			f["android/build.gradle"] = "buildscript {}\r\n"
			f["ios/App/Podfile"] = "platform :ios, '13.0'\r\n"
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := fpProject()
			tc.edit(files)
			got := fingerprint(t, writeProject(t, files))
			if tc.changed {
				assert.NotEqual(t, base, got, "Fingerprint after %s", tc.name)
			} else {
				assert.Equal(t, base, got, "Fingerprint after %s", tc.name)
			}
		})
	}
}

// TestFingerprint_NoProject: a folder without package.json, ios/ or
// android/ is not a project.
func TestFingerprint_NoProject(t *testing.T) {
	_, err := publish.Fingerprint(writeProject(t, map[string]string{"www/index.html": "x"}))
	assert.ErrorIs(t, err, publish.ErrNoProject)

	onlyNative := fingerprint(t, writeProject(t, map[string]string{"android/app/build.gradle": "x"}))
	assert.NotEmpty(t, onlyNative, "a native folder alone is a project")
}
