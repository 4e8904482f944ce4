package internalca

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFileStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	store := &FileStore{Dir: dir}
	first, err := store.LoadOrCreate()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a first start writes the root, its key readable by the owner only", func(t *testing.T) {
		info, err := os.Stat(filepath.Join(dir, KeyKey))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("tls.key mode %v, want 0600", info.Mode().Perm())
		}
		if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
			t.Errorf("folder: %v %v, want mode 0700", info, err)
		}
	})
	t.Run("a restart reuses the root", func(t *testing.T) {
		again, err := (&FileStore{Dir: dir}).LoadOrCreate()
		if err != nil {
			t.Fatal(err)
		}
		if !sameRoots(first, again) || !first.Signing.Cert.Equal(again.Signing.Cert) {
			t.Error("a new root on restart")
		}
	})
	t.Run("the files hold what a root Secret holds", func(t *testing.T) {
		read := func(key string) []byte {
			b, err := os.ReadFile(filepath.Join(dir, key))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		set, err := ParseRootSet(read(KeyCert), read(KeyKey), read(KeyBundle), time.Now())
		if err != nil || !sameRoots(set, first) {
			t.Errorf("ParseRootSet: %v", err)
		}
	})
	for _, tc := range []struct {
		name, breaks, content, want string
	}{
		{"a corrupt key is refused, naming tls.key", KeyKey, "not a key", filepath.Join(dir, KeyKey)},
		{"a missing certificate is refused, naming tls.crt", KeyCert, "", filepath.Join(dir, KeyCert)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			broken := filepath.Join(t.TempDir(), "state")
			if err := os.CopyFS(broken, os.DirFS(dir)); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(broken, tc.breaks)
			if tc.content == "" {
				err = os.Remove(path)
			} else {
				err = os.WriteFile(path, []byte(tc.content), 0o600)
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err := (&FileStore{Dir: broken}).LoadOrCreate()
			var malformed *MalformedFileError
			if !errors.As(err, &malformed) || malformed.Path != path {
				t.Fatalf("LoadOrCreate: %v, want a MalformedFileError naming %s", err, path)
			}
			if !strings.Contains(err.Error(), "restore it from a backup") || !strings.Contains(err.Error(), "Do not delete it") {
				t.Errorf("the error does not say what is safe to do: %v", err)
			}
			if _, err := os.Stat(path); tc.content != "" && err != nil {
				t.Errorf("the malformed file is gone: %v", err)
			}
		})
	}
}
