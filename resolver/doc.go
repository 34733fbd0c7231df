// Package resolver is capstatic's read side: it answers the unmodified
// @capgo/capacitor-updater plugin from a published tree.
//
// [Resolve] is the pure decision for one update request. It follows the
// order of Capgo's backend (capgo-protocol.md §1.4) with the per-version
// answer features of answer-features.md, and reads only an [App], the
// resolver's precomputed, read-only form of an app's state. [Server] wraps
// it: it decodes requests, calls Resolve, and encodes the answer, and also
// serves /stats, /channel_self and the tree's files.
//
// In this package "manifest" usually means the protocol's file list in an
// update answer; the vocabulary package is named [manifest] explicitly.
package resolver
