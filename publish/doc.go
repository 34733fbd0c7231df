// Package publish is capstatic's write side: it turns a web build into a
// release and writes it, and every later operation, to a [Store].
//
// A publish writes in the order a reader verifies (go-tuf's root →
// snapshot → targets idea): immutable, content-addressed objects first (the
// bundle zip or its encrypted variants, the delta objects, the bundle
// record), then the new immutable state document, and last the app's single
// pointer, with a compare-and-swap against the pointer the publish started
// from ([Swapper]). A crash at any point leaves the previous release
// serving; running the same publish again completes it. Two publishers
// racing on one app cannot both win: the loser gets [ErrConflict].
//
// Operations (promote, rollback, rollouts, channel settings, overrides,
// native builds) are functions on a [manifest.State] applied through
// [Publisher.Update]: one new state and one pointer flip each, never a
// re-upload. [Verify] re-reads a tree and checks every reference; [GC]
// removes what no state needs.
//
// Stores: [Dir] here, S3-compatible services in publish/s3, and the
// in-memory store and the one conformance suite in publish/publishtest.
// Cloud SDKs are imported only by those subpackages and by cmd.
package publish
