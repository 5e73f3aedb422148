//go:build !linux

package sqlite

import "os"

// datasync is os.File.Sync (F_FULLFSYNC on macOS) where fdatasync is not
// available.
func datasync(f *os.File) error { return f.Sync() }
