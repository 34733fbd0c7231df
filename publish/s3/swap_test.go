package s3_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/publish"
)

// TestStore_SwapRetry scripts the server's answers to Swap's PUTs. The
// object starts as "old"; Swap writes "new" from old's ETag, with 2 retries.
func TestStore_SwapRetry(t *testing.T) {
	const key = "app/current.json"
	for _, tc := range []struct {
		name string
		// onPut answers the n-th PUT; a zero status lets the fake decide.
		onPut func(n int) (status int, code string, apply bool)
		// meanwhile, if set, replaces the object between the PUTs.
		meanwhile string
		wantErr   error // nil, ErrConflict, or errOther
		want      string
		wantPuts  int
	}{
		{
			name:  "Transient",
			onPut: failFirst(1, http.StatusServiceUnavailable, "SlowDown", false),
			want:  "new", wantPuts: 2,
		},
		{
			// The first PUT is applied but its answer is lost; the retry is
			// refused since the ETag changed; the object holds Swap's bytes.
			name:  "LostAnswer",
			onPut: failFirst(1, http.StatusInternalServerError, "InternalError", true),
			want:  "new", wantPuts: 2,
		},
		{
			name:      "ConflictAfterRetry",
			onPut:     failFirst(1, http.StatusServiceUnavailable, "ServiceUnavailable", false),
			meanwhile: "another publisher's",
			wantErr:   publish.ErrConflict, want: "another publisher's", wantPuts: 2,
		},
		{
			name:    "GiveUp",
			onPut:   failFirst(100, http.StatusServiceUnavailable, "SlowDown", false),
			wantErr: errOther, want: "old", wantPuts: 3,
		},
		{
			name:    "Permanent",
			onPut:   failFirst(100, http.StatusForbidden, "AccessDenied", false),
			wantErr: errOther, want: "old", wantPuts: 1,
		},
		{
			name:    "ConditionalRequestConflict",
			onPut:   failFirst(100, http.StatusConflict, "ConditionalRequestConflict", false),
			wantErr: publish.ErrConflict, want: "old", wantPuts: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, url := newFakeS3(t)
			f.setObject(key, "old")
			s := f.store(t, url, 2)
			etag := etagOf([]byte("old"))
			f.setOnPut(func(n int) (int, string, bool) {
				if n == 2 && tc.meanwhile != "" {
					f.objects[key] = []byte(tc.meanwhile) // f.mu is held
				}
				return tc.onPut(n)
			})
			err := s.Swap(t.Context(), key, strings.NewReader("new"), 3, etag)
			switch tc.wantErr {
			case nil:
				assert.NoError(t, err, "Swap")
			case errOther:
				require.Error(t, err, "Swap")
				assert.NotErrorIs(t, err, publish.ErrConflict, "Swap")
			default:
				assert.ErrorIs(t, err, tc.wantErr, "Swap")
			}
			got, _ := f.object(key)
			assert.Equal(t, tc.want, got, "object after Swap")
			assert.Equal(t, tc.wantPuts, f.putCount(), "PUT requests")
		})
	}
}

// errOther stands for an error that is not a conflict.
var errOther = errorString("any error but a conflict")

type errorString string

func (e errorString) Error() string { return string(e) }

// failFirst answers the first n PUTs with status and code, storing the body
// if apply is set, and lets the fake decide after.
func failFirst(n, status int, code string, apply bool) func(int) (int, string, bool) {
	return func(i int) (int, string, bool) {
		if i <= n {
			return status, code, apply
		}
		return 0, "", false
	}
}

// TestStore_SwapGone checks that Swap with an ETag on an object deleted
// meanwhile (S3 answers 404) is a conflict, and creates nothing.
func TestStore_SwapGone(t *testing.T) {
	f, url := newFakeS3(t)
	s := f.store(t, url, 2)
	err := s.Swap(t.Context(), "app/current.json", strings.NewReader("new"), 3, etagOf([]byte("old")))
	assert.ErrorIs(t, err, publish.ErrConflict)
	_, ok := f.object("app/current.json")
	assert.False(t, ok, "object created by a Swap from an ETag")
}

// TestStore_PutRetry checks that Put retries a transient failure with a body
// read from a plain reader of unknown size.
func TestStore_PutRetry(t *testing.T) {
	f, url := newFakeS3(t)
	f.setOnPut(failFirst(2, http.StatusServiceUnavailable, "SlowDown", false))
	s := f.store(t, url, 2)
	require.NoError(t, s.Put(t.Context(), "app/state.json", struct{ *strings.Reader }{strings.NewReader("state")}, -1))
	got, _ := f.object("app/state.json")
	assert.Equal(t, "state", got)
	assert.Equal(t, 3, f.putCount(), "PUT requests")
}

// TestStore_RetriesDisabled checks that a negative Config.Retries makes one
// attempt.
func TestStore_RetriesDisabled(t *testing.T) {
	f, url := newFakeS3(t)
	f.setOnPut(failFirst(100, http.StatusServiceUnavailable, "SlowDown", false))
	s := f.store(t, url, -1)
	assert.Error(t, s.Put(t.Context(), "a", strings.NewReader("a"), 1), "Put")
	assert.Error(t, s.Swap(t.Context(), "a", strings.NewReader("a"), 1, ""), "Swap")
	assert.Equal(t, 2, f.putCount(), "PUT requests")
}

// TestStore_SwapCancelled checks that a context that ends while Swap waits
// to retry ends Swap with the context's error.
func TestStore_SwapCancelled(t *testing.T) {
	f, url := newFakeS3(t)
	f.setOnPut(failFirst(1000, http.StatusServiceUnavailable, "SlowDown", false))
	s := f.store(t, url, 1000)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Swap(ctx, "app/current.json", strings.NewReader("new"), 3, "")
	assert.ErrorIs(t, err, context.DeadlineExceeded, "Swap")
	assert.Less(t, time.Since(start), 5*time.Second, "time Swap took after its context ended")
}
