package manifest

import "fmt"

// IndexPath is the tree path of the list of apps in a tree. Hosts such as
// GitHub Pages cannot list a folder, so the publisher maintains this file.
const IndexPath = "index.json"

// ValidAppID reports whether id is a valid Capgo app id, the backend's
// /^[a-z0-9]+(\.[\w-]+)+$/i. The rule also makes an app id a safe path
// segment: no slash, and every dot is followed by a word character, so ".."
// cannot occur.
func ValidAppID(id string) bool {
	if len(id) == 0 || len(id) > 255 {
		return false
	}
	dots, seg := 0, 0 // seg: length of the current segment
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c == '.':
			if seg == 0 {
				return false
			}
			dots, seg = dots+1, 0
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			seg++
		case (c == '_' || c == '-') && dots > 0:
			seg++
		default:
			return false
		}
	}
	return dots > 0 && seg > 0
}

// CheckAppID returns an error unless id is a valid Capgo app id.
func CheckAppID(id string) error {
	if !ValidAppID(id) {
		return fmt.Errorf("invalid app id %q: want reverse-domain form such as com.example.app", id)
	}
	return nil
}

// PointerPath is the tree path of app's pointer, the only object in a tree
// that is ever overwritten. app must satisfy [ValidAppID].
func PointerPath(app string) string { return app + "/current.json" }

// StatePath is the tree path of the immutable state document with digest d.
func StatePath(app string, d Digest) string { return app + "/states/" + d.String() + ".json" }

// BundleRecordPath is the tree path of the immutable record of bundle id.
func BundleRecordPath(app string, id Digest) string {
	return app + "/bundles/" + id.String() + "/bundle.json"
}

// ZipPath is the tree path of the clear zip of bundle id.
func ZipPath(app string, id Digest) string { return app + "/bundles/" + id.String() + "/bundle.zip" }

// EncryptedZipPath is the tree path of bundle id's zip encrypted for the
// device key whose digest is key.
func EncryptedZipPath(app string, id, key Digest) string {
	return app + "/bundles/" + id.String() + "/bundle-" + key.String() + ".zip"
}

// FilePath is the tree path of a clear delta object: the file content with
// digest d, brotli-compressed when br is set. Clear delta objects are shared
// by every bundle of an app.
func FilePath(app string, d Digest, br bool) string {
	p := app + "/files/" + d.String()
	if br {
		p += ".br"
	}
	return p
}

// EncryptedFilePath is the tree path of a delta object that belongs to one
// encrypted bundle. name is a digest that reveals nothing about the content.
func EncryptedFilePath(app string, id, name Digest) string {
	return app + "/files/" + id.String() + "/" + name.String()
}
