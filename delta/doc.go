// Package delta holds the pure algorithms behind Capgo manifest (delta)
// updates: hashing a web build, choosing per-file brotli compression,
// building the content-addressed file objects of a bundle, and working out
// what a device already running some version has to download.
//
// "Manifest" here means the file list of an update answer in the Capgo
// protocol (file_name, file_hash, download_url), whose entries this package
// produces as [manifest.File] records; the vocabulary package of this module
// is also called manifest.
//
// The flow is [Scan] (walk and hash a build), then [Build] (compress what
// is new and emit its objects), then [Plan], [Report] and [Cascade] to
// explain the cost of the update to the people publishing it.
//
// # Wire rules this package enforces
//
// A manifest entry whose file_name ends in ".br" is brotli-decoded by the
// device and stored without the suffix; every other entry is stored as
// downloaded. Hence:
//
//   - a file whose own name ends in ".br" is always sent compressed (as
//     "x.br.br"), or the device would decode raw bytes;
//   - no two entries may end up with the same wire name, nor may a wire
//     name equal another entry's name (see [CheckWireNames]); [Build]
//     avoids this by sending a file raw when its name plus ".br" is also in
//     the build;
//   - brotli streams are encoded with a window size other than 2^22, so they
//     never start with the bytes 0B or 1B that make the plugin take its
//     "minimal wrapper" shortcut instead of decoding (see [Encode]).
//
// The package does no I/O beyond reading an [fs.FS]; it never writes.
package delta
