// Package manifest is capstatic's vocabulary: the layout of a published static
// tree, the records stored in it, and how they are encoded, decoded, validated
// and hashed.
//
// The word "manifest" has two meanings in this project. In the Capgo wire
// protocol a manifest is the file list of an update answer (file_name,
// file_hash, download_url); in this repository it is also the name of this
// package, which describes the whole tree. Comments say which one they mean.
//
// A tree holds, per app, exactly one mutable object, the [Pointer]
// (current.json), which names an immutable [State] document by digest. The
// state holds every channel, its settings, its stable and rollout bundles, its
// history and the [Bundle] records of every bundle a channel can offer. All
// other objects are immutable and named by hex digests; see [PointerPath],
// [StatePath], [BundleRecordPath], [ZipPath] and [FilePath].
//
// The package does no network and no filesystem I/O beyond io.Reader and
// io.Writer. It imports nothing else from this module.
package manifest
