package internalca

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"k8s.io/utils/clock"
)

// FileStore keeps a RootSet in a folder, for a control plane without a cluster
// (weftd --files): the files are named as the Secret's keys and hold the same
// PEM (RootSet.Encode), tls.crt, tls.key (mode 0600) and ca.crt, so a root
// moves between a folder and a Secret by copying the three values.
type FileStore struct {
	// Dir is the folder; LoadOrCreate makes it (mode 0700) when missing.
	Dir string
	// Clock tells the time for validity checks; default the real clock.
	Clock clock.PassiveClock
}

// MalformedFileError says a root file exists but cannot be used. Weft never
// overwrites it: every proxy holding a certificate from that root trusts only
// it.
type MalformedFileError struct {
	Path string
	Err  error
}

func (e *MalformedFileError) Error() string {
	return fmt.Sprintf("root CA file %s is malformed: %v. Weft will not overwrite it: restore it from a backup. "+
		"Do not delete it: proxies trust only the root it holds; deleting tls.crt, tls.key and ca.crt mints a new root at the next start, "+
		"after which every proxy needs a certificate from the new root", e.Path, e.Err)
}

func (e *MalformedFileError) Unwrap() error { return e.Err }

func (s *FileStore) path(key string) string { return filepath.Join(s.Dir, key) }

func (s *FileStore) now() time.Time {
	if s.Clock == nil {
		return time.Now()
	}
	return s.Clock.Now()
}

// Load reads the folder. When it holds no root (neither tls.crt nor tls.key)
// the error satisfies errors.Is(err, fs.ErrNotExist); an unusable root gives a
// *MalformedFileError naming the file at fault. ca.crt may be missing when
// tls.crt is a self-signed root.
func (s *FileStore) Load() (*RootSet, error) {
	data := map[string][]byte{}
	for _, key := range []string{KeyCert, KeyKey, KeyBundle} {
		b, err := os.ReadFile(s.path(key))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, err
		default:
			data[key] = b
		}
	}
	_, crt := data[KeyCert]
	_, key := data[KeyKey]
	switch {
	case !crt && !key:
		return nil, fmt.Errorf("no root CA in %s: %w", s.Dir, fs.ErrNotExist)
	case !crt:
		return nil, &MalformedFileError{Path: s.path(KeyCert), Err: errors.New("missing, while tls.key is there")}
	case !key:
		return nil, &MalformedFileError{Path: s.path(KeyKey), Err: errors.New("missing, while tls.crt is there")}
	}
	set, err := ParseRootSet(data[KeyCert], data[KeyKey], data[KeyBundle], s.now())
	if err != nil {
		path := s.Dir
		var fe fieldError
		if errors.As(err, &fe) {
			path = s.path(fe.key)
		}
		return nil, &MalformedFileError{Path: path, Err: err}
	}
	return set, nil
}

// LoadOrCreate returns the RootSet in the folder or, when it holds none,
// generates a root (ECDSA P-256, DefaultRootValidity), writes it and returns
// it. A malformed root is an error and is left as it is.
func (s *FileStore) LoadOrCreate() (*RootSet, error) {
	set, err := s.Load()
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return set, err
	}
	set, err = NewRoot(DefaultRootCommonName, DefaultRootValidity, s.now())
	if err != nil {
		return nil, fmt.Errorf("generating a root CA: %w", err)
	}
	if err := s.create(set); err != nil {
		return nil, err
	}
	return set, nil
}

// create writes set: the key first, refusing to replace any file, and the
// bundle last.
func (s *FileStore) create(set *RootSet) error {
	crt, key, bundle, err := set.Encode()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("creating the root CA folder: %w", err)
	}
	for _, f := range []struct {
		key  string
		data []byte
		mode fs.FileMode
	}{{KeyKey, key, 0o600}, {KeyCert, crt, 0o644}, {KeyBundle, bundle, 0o644}} {
		if err := writeNew(s.path(f.key), f.data, f.mode); err != nil {
			return fmt.Errorf("writing the root CA: %w", err)
		}
	}
	return nil
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Follow re-reads the folder every interval until ctx ends and hands changed,
// valid roots to a.SetRoots, as SecretStore.Follow does for the Secret: a
// rotation done by editing the files (docs/root-rotation.md, with files for
// the Secret's keys) reaches a running CA, an unusable edit is logged and
// ignored, and a folder whose files were all deleted gets the running roots
// back. A nil clk is the real clock.
func (s *FileStore) Follow(ctx context.Context, a *Authority, clk clock.Clock, interval time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var last []byte
	read := func(context.Context) (*RootSet, error) {
		var seen []byte
		for _, key := range []string{KeyCert, KeyKey, KeyBundle} {
			b, _ := os.ReadFile(s.path(key))
			seen = append(append(seen, b...), 0)
		}
		if bytes.Equal(seen, last) {
			return nil, errUnchanged
		}
		last = seen
		return s.Load()
	}
	restore := func(_ context.Context, set *RootSet) {
		if err := s.create(set); err != nil {
			log.Error("the root CA files were deleted and restoring them failed; keeping the current roots", "dir", s.Dir, "error", err)
			return
		}
		last = nil
		log.Warn("the root CA files were deleted; restored them from the running root (to replace the root, rotate it: docs/root-rotation.md)", "dir", s.Dir)
	}
	follow(ctx, a, clk, interval, log, "folder "+s.Dir, read, func(err error) bool { return errors.Is(err, fs.ErrNotExist) }, restore)
}
