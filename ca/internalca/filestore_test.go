package internalca

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
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

// A running CA on files follows edits of its folder as it follows the
// Secret's: a new trusted root is picked up, garbage is ignored, and a folder
// emptied by mistake gets the running root back.
func TestFileStoreFollow(t *testing.T) {
	dir := t.TempDir()
	store := &FileStore{Dir: dir}
	set, err := store.LoadOrCreate()
	if err != nil {
		t.Fatal(err)
	}
	authority := New(set, nil)
	clk := testingclock.NewFakeClock(time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { store.Follow(ctx, authority, clk, 10*time.Second, nil); close(done) }()
	defer func() { cancel(); <-done }()
	tick := func(until func() bool, what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !until() {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
			if clk.HasWaiters() {
				clk.Step(10 * time.Second)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	bundle := filepath.Join(dir, KeyBundle)
	before, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}

	next, _ := NewRoot("next root", DefaultRootValidity, time.Now())
	_, _, nextPEM, _ := next.Encode()
	if err := os.WriteFile(bundle, append(append([]byte{}, before...), nextPEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	tick(func() bool { return len(authority.RootSet().Trusted) == 2 }, "the running CA did not pick up the new trusted root")

	if err := os.WriteFile(bundle, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		clk.Step(10 * time.Second)
		time.Sleep(20 * time.Millisecond)
	}
	if len(authority.RootSet().Trusted) != 2 {
		t.Error("garbage in ca.crt changed the running roots")
	}

	for _, k := range []string{KeyCert, KeyKey, KeyBundle} {
		if err := os.Remove(filepath.Join(dir, k)); err != nil {
			t.Fatal(err)
		}
	}
	// The three files are written one by one: wait for the bundle, the last.
	tick(func() bool { set, err := store.Load(); return err == nil && len(set.Trusted) == 2 }, "the emptied folder was not restored")
	restored, err := store.Load()
	if err != nil || !restored.Signing.Cert.Equal(set.Signing.Cert) || len(restored.Trusted) != 2 {
		t.Errorf("restored roots: %v (%v), want the running ones", restored, err)
	}
}
