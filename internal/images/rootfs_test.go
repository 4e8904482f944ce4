package images

import (
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// rootfs is an image unpacked into a folder, with the configuration a
// container runtime would run it with.
type rootfs struct {
	dir    string
	config v1.Config
}

func unpackRootfs(t *testing.T, img v1.Image) rootfs {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The image's / must be searchable by its user once it is the root.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	unpack(t, img, dir, "")
	if len(cf.Config.Entrypoint) == 0 {
		t.Fatal("the image has no entrypoint")
	}
	return rootfs{dir: dir, config: cf.Config}
}

// lookPath resolves a container's command as the runtime does: by the image's
// PATH, inside the image.
func (r rootfs) lookPath(name string) (string, bool) {
	if strings.Contains(name, "/") {
		return name, isExecutable(filepath.Join(r.dir, name))
	}
	for _, env := range r.config.Env {
		if p, ok := strings.CutPrefix(env, "PATH="); ok {
			for _, d := range filepath.SplitList(p) {
				if candidate := path.Join(d, name); isExecutable(filepath.Join(r.dir, candidate)) {
					return candidate, true
				}
			}
		}
	}
	return "", false
}

func isExecutable(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0
}

// user is the image's numeric user and group.
func (r rootfs) user(t *testing.T) (uid, gid uint32) {
	t.Helper()
	u, g, _ := strings.Cut(r.config.User, ":")
	uid64, err1 := strconv.ParseUint(u, 10, 32)
	gid64, err2 := strconv.ParseUint(cmp.Or(g, u), 10, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("image user %q: want uid:gid", r.config.User)
	}
	return uint32(uid64), uint32(gid64)
}

// command runs the entrypoint with args as a container runtime would: chrooted
// into the image as its user, in its working directory, with only its
// environment, so nothing from the host's filesystem is within reach. The
// chroot is stricter than a container (no /proc, /dev or /etc/resolv.conf).
// It needs root; without it, the unpacked binary runs from the folder as the
// test's user.
func (r rootfs) command(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	entry := r.config.Entrypoint
	cmd := &exec.Cmd{Env: r.config.Env}
	if os.Geteuid() != 0 {
		cmd.Path = filepath.Join(r.dir, entry[0])
		cmd.Args = append(append([]string{cmd.Path}, entry[1:]...), args...)
		return cmd
	}
	uid, gid := r.user(t)
	cmd.Path = entry[0]
	cmd.Args = append(append([]string{entry[0]}, entry[1:]...), args...)
	cmd.Dir = cmp.Or(r.config.WorkingDir, "/")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: r.dir, Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	return cmd
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("running the init container's entrypoint needs root (a network namespace and a chroot); `make test` runs as root in CI")
	}
}

// netNS is a network namespace of the test's own, held open by a file
// descriptor: it goes when the test ends.
type netNS struct{ f *os.File }

// newNetNS makes a fresh network namespace, skipping the test, saying why,
// where that is not possible.
func newNetNS(t *testing.T) *netNS {
	t.Helper()
	requireRoot(t)
	var f *os.File
	err := onNewThread(func() (err error) {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return err
		}
		f, err = os.Open("/proc/thread-self/ns/net")
		return err
	})
	if err != nil {
		t.Skipf("this machine cannot create network namespaces: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return &netNS{f: f}
}

// Do runs f on an OS thread inside the namespace: processes it starts, and
// sockets it opens, are in the namespace.
func (ns *netNS) Do(f func() error) error {
	return onNewThread(func() error {
		if err := unix.Setns(int(ns.f.Fd()), unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("setns: %w", err)
		}
		return f()
	})
}

// onNewThread runs f on a locked OS thread that is never unlocked, so Go
// discards it afterwards instead of reusing a thread in another namespace.
func onNewThread(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- f()
	}()
	return <-errc
}
