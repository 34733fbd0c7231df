package main

import (
	"context"
	"errors"

	"github.com/capstatic/capstatic/publish"
)

func openS3(ctx context.Context, e *env, s *storeFlags) (publish.Store, error) {
	return nil, errors.New("s3 store: not wired yet")
}
