package images

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

type platformImage struct {
	arch string
	img  v1.Image
}

// Annotations on index.json's entries naming the image: containerd's import
// (kind load image-archive, docker load with the containerd store) reads
// io.containerd.image.name; OCI tools read the ref name, a tag.
const (
	annotationImageName = "io.containerd.image.name"
	annotationRefName   = "org.opencontainers.image.ref.name"
)

// writeArchive writes an OCI image layout as a tarball, tagged with each of
// tags. With multi, index.json points to an image index of the platforms;
// otherwise to the one image, and a docker-save manifest.json names the same
// blobs, so Docker engines of before OCI layout support load it too (as
// `docker save` has written it since Docker 25).
func writeArchive(path string, tags []string, platforms []platformImage, multi bool) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	a := &archive{tw: tar.NewWriter(f), seen: map[v1.Hash]bool{}}
	if err := a.file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := a.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	var docker []dockerManifest
	for _, p := range platforms {
		m, err := a.image(p.img)
		if err != nil {
			return err
		}
		m.RepoTags = tags
		docker = append(docker, m)
	}

	var top v1.Descriptor
	if multi {
		idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
		for _, p := range platforms {
			idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
				Add:        p.img,
				Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: p.arch}},
			})
		}
		raw, err := idx.RawManifest()
		if err != nil {
			return err
		}
		if top, err = a.raw(raw); err != nil {
			return err
		}
		top.MediaType = types.OCIImageIndex
	} else {
		if len(platforms) != 1 {
			return fmt.Errorf("one platform per docker archive, not %d", len(platforms))
		}
		d, err := partial.Descriptor(platforms[0].img)
		if err != nil {
			return err
		}
		top = *d
	}

	index := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	for _, t := range tags {
		d := top
		d.Annotations = map[string]string{annotationImageName: t, annotationRefName: t[strings.LastIndex(t, ":")+1:]}
		index.Manifests = append(index.Manifests, d)
	}
	if err := a.json("index.json", index); err != nil {
		return err
	}
	if !multi {
		if err := a.json("manifest.json", docker); err != nil {
			return err
		}
	}
	return a.tw.Close()
}

// dockerManifest is an entry of docker-save's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

type archive struct {
	tw   *tar.Writer
	seen map[v1.Hash]bool
}

// image writes the image's blobs: config, layers, manifest.
func (a *archive) image(img v1.Image) (dockerManifest, error) {
	var m dockerManifest
	cfg, err := partial.ConfigLayer(img)
	if err != nil {
		return m, err
	}
	layers, err := img.Layers()
	if err != nil {
		return m, err
	}
	for i, l := range append([]v1.Layer{cfg}, layers...) {
		p, err := a.layer(l)
		if err != nil {
			return m, err
		}
		if i == 0 {
			m.Config = p
		} else {
			m.Layers = append(m.Layers, p)
		}
	}
	raw, err := img.RawManifest()
	if err != nil {
		return m, err
	}
	_, err = a.raw(raw)
	return m, err
}

func (a *archive) layer(l v1.Layer) (string, error) {
	d, err := partial.Descriptor(l)
	if err != nil {
		return "", err
	}
	rc, err := l.Compressed()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	return blobPath(d.Digest), a.stream(d.Digest, d.Size, rc)
}

// raw writes a manifest or index, returning its descriptor without media type.
func (a *archive) raw(data []byte) (v1.Descriptor, error) {
	h, size, err := v1.SHA256(bytes.NewReader(data))
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{Digest: h, Size: size}, a.stream(h, size, bytes.NewReader(data))
}

func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

// stream writes a blob once, however many images share it.
func (a *archive) stream(h v1.Hash, size int64, r io.Reader) error {
	if a.seen[h] {
		return nil
	}
	a.seen[h] = true
	if err := a.header(blobPath(h), size); err != nil {
		return err
	}
	_, err := io.Copy(a.tw, r)
	return err
}

func (a *archive) json(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return a.file(name, data)
}

func (a *archive) file(name string, data []byte) error {
	if err := a.header(name, int64(len(data))); err != nil {
		return err
	}
	_, err := a.tw.Write(data)
	return err
}

// header has a fixed mtime, so archives are reproducible.
func (a *archive) header(name string, size int64) error {
	return a.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: size, ModTime: time.Unix(0, 0), Format: tar.FormatPAX})
}
