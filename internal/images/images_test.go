package images

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestBuild reads the archives of weftd and weft-init back both as
// docker-save tarballs and as OCI layouts, and runs each unpacked entrypoint's
// version command (run_test.go runs them for real).
func TestBuild(t *testing.T) {
	archives := builtArchives(t)
	if len(archives) != 4 {
		t.Fatalf("archives: %+v", archives)
	}
	want := map[string]int{"weftd": nonroot, "weft-init": 0}
	for _, a := range archives {
		t.Logf("%s: %v", filepath.Base(a.Path), a.Tags)
		bin := a.Image[strings.LastIndex(a.Image, "/")+1:]
		if a.Image != "ghcr.io/weft-mesh/"+bin {
			t.Errorf("image name %s", a.Image)
		}
		if got := strings.Join(a.Tags, " "); got != a.Image+":"+testVersion+" "+a.Image+":latest" {
			t.Errorf("%s: tags %s", a.Path, got)
		}
		layoutImg := layoutImage(t, a.Path)
		if strings.HasSuffix(a.Path, ".oci.tar") {
			continue // its one image is the per-arch archive's, checked by digest
		}
		tag, err := name.NewTag(a.Tags[0])
		if err != nil {
			t.Fatal(err)
		}
		img, err := tarball.ImageFromPath(a.Path, &tag)
		if err != nil {
			t.Fatalf("%s as a docker archive: %v", a.Path, err)
		}
		// The docker view synthesizes its own manifest: compare configs.
		c1, _ := img.ConfigName()
		c2, _ := layoutImg.ConfigName()
		if c1 != c2 {
			t.Errorf("%s: manifest.json's config %s, index.json's %s", a.Path, c1, c2)
		}
		checkImage(t, img, bin, want[bin], testVersion)
	}
}

const testVersion, testRevision = "v0.0.0-imagetest", "abc1234"

// built holds the archives of weftd and weft-init, built once for the tests of
// this package, for the local architecture only (the arm64 cross build is
// `make images`'): compiling weftd is the expensive part.
var built struct {
	once     sync.Once
	dir      string
	archives []Archive
	err      error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// builtArchives builds the archives on first use, skipping where they cannot
// run.
func builtArchives(t *testing.T) []Archive {
	t.Helper()
	if testing.Short() {
		t.Skip("compiles weftd")
	}
	if runtime.GOOS != "linux" {
		t.Skip("runs linux binaries")
	}
	built.once.Do(func() {
		start := time.Now()
		var logs bytes.Buffer
		if built.dir, built.err = os.MkdirTemp("", "weft-images-test-"); built.err != nil {
			return
		}
		built.archives, built.err = Build(Options{
			Out:       built.dir,
			ModuleDir: "../..",
			Version:   testVersion,
			Revision:  testRevision,
			LDFlags:   "-X github.com/weft-mesh/weft/pkg/version.Version=" + testVersion + " -X github.com/weft-mesh/weft/pkg/version.GitCommit=" + testRevision,
			Arches:    []string{runtime.GOARCH},
			Images:    []string{"weftd", "weft-init"},
			Log:       &logs,
		})
		if built.err != nil {
			built.err = fmt.Errorf("%w\n%s", built.err, logs.String())
		}
		t.Logf("built the archives in %s", time.Since(start).Round(time.Millisecond))
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.archives
}

// archiveImage reads bin's per-architecture archive as a docker-save tarball.
func archiveImage(t *testing.T, bin string) v1.Image {
	t.Helper()
	for _, a := range builtArchives(t) {
		if strings.HasSuffix(a.Image, "/"+bin) && !strings.HasSuffix(a.Path, ".oci.tar") {
			tag, err := name.NewTag(a.Tags[0])
			if err != nil {
				t.Fatal(err)
			}
			img, err := tarball.ImageFromPath(a.Path, &tag)
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
	}
	t.Fatalf("no archive of %s", bin)
	return nil
}

func checkImage(t *testing.T, img v1.Image, bin string, uid int, version string) {
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	entry := BinDir + "/" + bin
	c := cf.Config
	if len(c.Entrypoint) != 1 || c.Entrypoint[0] != entry {
		t.Errorf("%s: entrypoint %v", bin, c.Entrypoint)
	}
	if want := fmt.Sprintf("%d:%d", uid, uid); c.User != want {
		t.Errorf("%s: user %q", bin, c.User)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("%s: platform %s/%s", bin, cf.OS, cf.Architecture)
	}
	if c.Labels["org.opencontainers.image.version"] != version || c.Labels["org.opencontainers.image.source"] != Source {
		t.Errorf("%s: labels %v", bin, c.Labels)
	}

	root := t.TempDir()
	hdr := unpack(t, img, root, strings.TrimPrefix(entry, "/"))
	if hdr == nil {
		t.Fatalf("%s: no %s in the image", bin, entry)
	}
	if hdr.Mode&0o777 != 0o755 || hdr.Uid != uid || hdr.Gid != uid {
		t.Errorf("%s: mode %o owner %d:%d", bin, hdr.Mode, hdr.Uid, hdr.Gid)
	}
	path := filepath.Join(root, entry)
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s: dynamically linked (PT_INTERP)", bin)
		}
	}
	f.Close()
	got, err := exec.Command(path, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", bin, err, got)
	}
	t.Logf("%s version: %s", bin, strings.TrimSpace(string(got)))
	if !strings.Contains(string(got), bin+" "+version+" (commit abc1234)") {
		t.Errorf("%s version printed %q", bin, got)
	}
}

// unpack writes the image's filesystem under root and returns entry's header.
func unpack(t *testing.T, img v1.Image, root, entry string) *tar.Header {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	var found *tar.Header
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return found
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			err = writeFile(p, tr, h.FileInfo().Mode().Perm())
		default:
			t.Errorf("unexpected %s (type %c)", h.Name, h.Typeflag)
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == entry {
			found = h
		}
	}
}

func writeFile(path string, r io.Reader, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// layoutImage reads the archive as an OCI layout: index.json names each tag
// for containerd, and the image for the local platform is complete.
func layoutImage(t *testing.T, archive string) v1.Image {
	dir := t.TempDir()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if err := writeFile(filepath.Join(dir, filepath.FromSlash(h.Name)), tr, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("%s as an OCI layout: %v", archive, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 {
		t.Fatalf("%s: index.json has %d entries, want one per tag", archive, len(im.Manifests))
	}
	d := im.Manifests[0]
	if !strings.HasSuffix(d.Annotations[annotationImageName], ":"+d.Annotations[annotationRefName]) {
		t.Errorf("%s: annotations %v", archive, d.Annotations)
	}
	if d.MediaType.IsIndex() {
		inner, err := idx.ImageIndex(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		m, err := inner.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Manifests) != 1 || m.Manifests[0].Platform == nil || m.Manifests[0].Platform.Architecture != runtime.GOARCH {
			t.Fatalf("%s: platforms %+v", archive, m.Manifests)
		}
		d = m.Manifests[0]
		idx = inner
	}
	img, err := idx.Image(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	// Every blob is there.
	if _, err := io.Copy(io.Discard, mutate.Extract(img)); err != nil {
		t.Fatalf("%s: %v", archive, err)
	}
	return img
}
