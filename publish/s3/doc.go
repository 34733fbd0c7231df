// Package s3 is a [publish.Store] on an S3-compatible object store (AWS S3,
// Cloudflare R2, MinIO, versitygw…), built on minio-go.
//
// Object keys are exactly the tree paths under [Config.Prefix], so the bucket
// can be copied to a directory and served as it is. [Store.Swap] is a
// conditional PUT (RFC 9110 §13.1.1 If-Match with the previous ETag, or
// §13.1.2 "If-None-Match: *" to create), the S3 conditional write that AWS
// S3 has honoured since 2024, and MinIO and versitygw honour too (the tests
// check versitygw). A server that ignores these headers lets two publishers
// both win, so check that a new one refuses a stale If-Match before relying
// on it.
//
// # Retries
//
// A request that fails with a transient error is retried up to
// [Config.Retries] times, waiting between attempts an exponentially growing,
// fully jittered delay: a random duration up to minio-go's
// [minio.DefaultRetryUnit] (200ms) doubled per attempt and capped at
// [minio.DefaultRetryCap] (1s). A cancelled or expired context ends the
// retries. These errors are transient:
//
//   - HTTP 408, 429, 500, 502, 503 and 504 answers (minio-go also retries
//     nginx's 499 and Cloudflare's 520);
//   - S3 error codes RequestTimeout, SlowDown, Throttling,
//     ThrottlingException, RequestLimitExceeded, RequestThrottled,
//     InternalError and ServiceUnavailable (minio-go also retries
//     ExpiredToken);
//   - transport failures: timeouts, refused or reset connections, a
//     connection closed before the answer; but not TLS certificate errors.
//
// Put, Open, Stat, Delete and List leave the retries to minio-go, which can
// retry a request only if it can rewind its body: Put therefore buffers an
// object of up to 16 MiB read from a plain [io.Reader], and uploads a larger
// one in 16 MiB parts, each retried on its own. Swap retries by itself,
// because a conditional PUT whose answer was lost may have been applied, and
// its retry then refused as a conflict: in that case Swap reads the object
// back and reports success if it holds exactly the bytes Swap wrote.
package s3
