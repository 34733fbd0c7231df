// Package e2e implements the end-to-end encryption of bundles exactly as the
// unmodified @capgo/capacitor-updater plugin expects it (protocol document
// §4): key handling, the current v2 scheme and the legacy v1 scheme.
//
// Both schemes encrypt a whole zip, and in v2 every file of a delta manifest
// (the file list of an update answer), with AES-128-CBC and PKCS#7 padding
// under one random 16-byte key and 16-byte IV per bundle. A [Session] holds
// that key and IV; its [Session.SessionKey] is the wire "session_key",
// base64(IV) ":" base64(wrapped AES key). The schemes differ in how the AES
// key is wrapped:
//
//   - v2 ([SealV2]): the publisher holds the RSA private key and the device
//     the public key. The AES key is put through the raw PKCS#1 v1.5 type-1
//     private-key operation (Node's privateEncrypt with RSA_PKCS1_PADDING), and
//     the device recovers it with the public key. The SHA-256 checksum of the
//     clear zip and of every manifest file is wrapped the same way
//     ([WrapChecksumV3], [WrapChecksumV2]). Since the public key ships in every
//     app binary, v2 proves who published a bundle; it does not hide the
//     bundle from anyone who can read the app.
//   - v1 ([SealV1]): the device holds the private key. The AES key is
//     encrypted with the public key using RSA-OAEP with SHA-256 and
//     MGF1-SHA-256, and the checksum is the plain CRC32 of the clear zip
//     ([CRC32Hex]).
//
// Keys are RSA-2048 only, because the plugin's iOS code handles no other size
// (§4.2); [ParsePrivate], [ParsePublic], [SealV1] and [SealV2] refuse others
// with [ErrKeySize]. The PEM forms are those of `capgo key create`: PKCS#1
// "RSA PRIVATE KEY" and "RSA PUBLIC KEY" ([EncodePrivate], [EncodePublic]).
// [KeyID] is the plugin's key_id.
//
// The Open* functions, [Decrypt] and [UnwrapChecksum] are the device's side,
// for operators who verify what was published. No error from this package
// contains key material.
package e2e
