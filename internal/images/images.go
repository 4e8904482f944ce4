// Package images builds Weft's container images without a container engine:
// static binaries compiled with `go build`, each in one layer on an empty base.
package images

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Binary is one image: a command of this module and how it runs.
type Binary struct {
	Name        string // of the image and of the binary
	Package     string // relative to the module root
	UID         int    // owner of the binary and the image's user
	Description string
}

// Binaries are the images `make images` builds. The init container runs as
// root (it needs NET_ADMIN); the others as distroless' nonroot.
var Binaries = []Binary{
	{Name: "weftd", Package: "./cmd/weftd", UID: nonroot, Description: "Weft's control plane"},
	{Name: "weft-init", Package: "./cmd/weft-init", UID: 0, Description: "Weft's init container: installs the traffic redirection rules"},
	{Name: "weft", Package: "./cmd/weft", UID: nonroot, Description: "Weft's CLI"},
}

const (
	nonroot = 65532
	// BinDir is where binaries sit in the images; on PATH, since the
	// injector runs the init container's command by name.
	BinDir     = "/usr/local/bin"
	pathEnv    = "PATH=" + BinDir + ":/usr/bin:/bin"
	stripFlags = "-s -w"
	// Source is the org.opencontainers.image.source label.
	Source = "https://github.com/weft-mesh/weft"
	// DefaultRepository prefixes image names; the injector's default init
	// image and the chart name images there.
	DefaultRepository = "ghcr.io/weft-mesh"
)

// Options says what to build and where.
type Options struct {
	Out       string   // directory of the archives
	ModuleDir string   // the module root, where `go build` runs
	Version   string   // tag and org.opencontainers.image.version
	Revision  string   // org.opencontainers.image.revision
	LDFlags   string   // passed to `go build -ldflags`
	Arches    []string // linux architectures (GOARCH)
	Images    []string // names from Binaries; empty means all
	// Repository prefixes image names; empty means DefaultRepository.
	Repository string
	// Created is the images' creation time; zero means the Unix epoch, so
	// archives are reproducible.
	Created time.Time
	Go      string    // the go command; empty means "go"
	Log     io.Writer // progress; nil means none
}

// Archive is one written file.
type Archive struct {
	Path   string
	Image  string   // name without tag
	Tags   []string // full references
	Arches []string
}

// Build compiles each image's binary for each architecture and writes, per
// image, one archive per architecture (a docker-save tarball that is also an
// OCI layout: what `docker load` and `kind load image-archive` take) and one
// multi-platform OCI layout archive.
func Build(o Options) ([]Archive, error) {
	if o.Go == "" {
		o.Go = "go"
	}
	if o.Repository == "" {
		o.Repository = DefaultRepository
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Created.IsZero() {
		o.Created = time.Unix(0, 0)
	}
	if err := validTag(o.Version); err != nil {
		return nil, err
	}
	bins, err := selected(o.Images)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "weft-images-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	var out []Archive
	for _, b := range bins {
		name := o.Repository + "/" + b.Name
		tags := []string{name + ":" + o.Version}
		if o.Version != "latest" {
			tags = append(tags, name+":latest")
		}
		var platforms []platformImage
		for _, arch := range o.Arches {
			bin := filepath.Join(work, b.Name+"-"+arch)
			if err := o.compile(b, arch, bin); err != nil {
				return nil, err
			}
			img, err := o.image(b, arch, bin)
			if err != nil {
				return nil, fmt.Errorf("%s for %s: %w", b.Name, arch, err)
			}
			path := filepath.Join(o.Out, fmt.Sprintf("%s-%s-linux-%s.tar", b.Name, o.Version, arch))
			if err := writeArchive(path, tags, []platformImage{{arch, img}}, false); err != nil {
				return nil, err
			}
			fmt.Fprintln(o.Log, "wrote", path)
			out = append(out, Archive{Path: path, Image: name, Tags: tags, Arches: []string{arch}})
			platforms = append(platforms, platformImage{arch, img})
		}
		path := filepath.Join(o.Out, fmt.Sprintf("%s-%s.oci.tar", b.Name, o.Version))
		if err := writeArchive(path, tags, platforms, true); err != nil {
			return nil, err
		}
		fmt.Fprintln(o.Log, "wrote", path)
		out = append(out, Archive{Path: path, Image: name, Tags: tags, Arches: o.Arches})
	}
	return out, nil
}

func selected(names []string) ([]Binary, error) {
	if len(names) == 0 {
		return Binaries, nil
	}
	var bins []Binary
	for _, n := range names {
		found := false
		for _, b := range Binaries {
			if b.Name == n {
				bins, found = append(bins, b), true
			}
		}
		if !found {
			return nil, fmt.Errorf("no image %q", n)
		}
	}
	return bins, nil
}

// validTag checks the OCI distribution spec's tag grammar, since the version
// (git describe) becomes the tag.
func validTag(tag string) error {
	ok := tag != "" && len(tag) <= 128 && tag[0] != '.' && tag[0] != '-'
	for _, c := range tag {
		ok = ok && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_.-", c))
	}
	if !ok {
		return fmt.Errorf("version %q is not a valid image tag", tag)
	}
	return nil
}

// compile builds a static binary: no cgo, so no dynamic loader is needed in
// an image without a base.
func (o Options) compile(b Binary, arch, out string) error {
	fmt.Fprintf(o.Log, "go build %s for linux/%s\n", b.Package, arch)
	// -s -w drop the symbol table and DWARF (a third of weftd); stack traces
	// keep their function names.
	cmd := exec.Command(o.Go, "build", "-trimpath", "-ldflags", stripFlags+" "+o.LDFlags, "-o", out, b.Package)
	cmd.Dir = o.ModuleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	cmd.Stdout, cmd.Stderr = o.Log, o.Log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s for %s: %w", b.Package, arch, err)
	}
	return nil
}

// image is the binary in one layer, with OCI media types throughout.
func (o Options) image(b Binary, arch, bin string) (v1.Image, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	layerTar, err := binaryLayer(b, data, o.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: o.Created}, CreatedBy: "internal/images: " + BinDir + "/" + b.Name},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: o.Created}
	cf.Config.Entrypoint = []string{BinDir + "/" + b.Name}
	cf.Config.User = fmt.Sprintf("%d:%d", b.UID, b.UID)
	cf.Config.Env = []string{pathEnv}
	cf.Config.WorkingDir = "/"
	cf.Config.Labels = Labels(b, o.Version, o.Revision)
	return mutate.ConfigFile(img, cf)
}

// Labels are the image's OCI annotations; build/*.Dockerfile set the same.
func Labels(b Binary, version, revision string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       b.Name,
		"org.opencontainers.image.description": b.Description,
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.revision":    revision,
		"org.opencontainers.image.source":      Source,
	}
}

// binaryLayer is the layer's tar: the directories down to BinDir and the
// binary, mode 0755, owned by the image's user.
func binaryLayer(b Binary, data []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := ""
	for _, d := range strings.Split(strings.Trim(BinDir, "/"), "/") {
		dir += d + "/"
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	h := &tar.Header{
		Typeflag: tar.TypeReg, Name: dir + b.Name, Mode: 0o755, Size: int64(len(data)),
		Uid: b.UID, Gid: b.UID, ModTime: mtime, Format: tar.FormatPAX,
	}
	if err := tw.WriteHeader(h); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
