package ingressgateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/internal/atomicfile"
)

// Store keeps the ingress gateway's Secrets: the API server in a cluster
// (APIStore), a folder in files mode (FolderStore).
type Store interface {
	// Get returns the Secret, or an error apierrors.IsNotFound recognises.
	Get(ctx context.Context, key types.NamespacedName) (*corev1.Secret, error)
	// Put creates the Secret, or replaces the one Get returned (exists).
	Put(ctx context.Context, s *corev1.Secret, exists bool) error
	// List returns the Secrets carrying every label of labels.
	List(ctx context.Context, labels map[string]string) ([]corev1.Secret, error)
	// Delete deletes the Secret List returned, unless it was replaced since.
	Delete(ctx context.Context, s *corev1.Secret) error
}

// APIStore keeps the Secrets in the cluster.
type APIStore struct{ Client client.Client }

func (a APIStore) Get(ctx context.Context, key types.NamespacedName) (*corev1.Secret, error) {
	var s corev1.Secret
	if err := a.Client.Get(ctx, key, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

func (a APIStore) Put(ctx context.Context, s *corev1.Secret, exists bool) error {
	if exists {
		return a.Client.Update(ctx, s)
	}
	return a.Client.Create(ctx, s)
}

func (a APIStore) List(ctx context.Context, labels map[string]string) ([]corev1.Secret, error) {
	var list corev1.SecretList
	if err := a.Client.List(ctx, &list, client.MatchingLabels(labels)); err != nil {
		return nil, err
	}
	return list.Items, nil
}

func (a APIStore) Delete(ctx context.Context, s *corev1.Secret) error {
	return a.Client.Delete(ctx, s, client.Preconditions{UID: &s.UID})
}

// FolderStore keeps each Secret as a folder Dir/<namespace>/<name>/ holding
// one file per data key (tls.crt, tls.key, ca.crt: what an ingress
// controller on the same machine reads) and metadata.json with its labels
// and annotations. Files are replaced by rename; keys are readable by their
// owner only.
type FolderStore struct{ Dir string }

const metadataFile = "metadata.json"

func (f FolderStore) folder(key types.NamespacedName) string {
	return filepath.Join(f.Dir, key.Namespace, key.Name)
}

func (f FolderStore) Get(_ context.Context, key types.NamespacedName) (*corev1.Secret, error) {
	dir := f.folder(key)
	meta, err := os.ReadFile(filepath.Join(dir, metadataFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, apierrors.NewNotFound(corev1.Resource("secrets"), key.Name)
	}
	if err != nil {
		return nil, err
	}
	s := &corev1.Secret{Data: map[string][]byte{}}
	if err := json.Unmarshal(meta, &s.ObjectMeta); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, metadataFile), err)
	}
	s.Namespace, s.Name = key.Namespace, key.Name
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() || e.Name() == metadataFile || e.Name()[0] == '.' {
			continue
		}
		if s.Data[e.Name()], err = os.ReadFile(filepath.Join(dir, e.Name())); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (f FolderStore) Put(_ context.Context, s *corev1.Secret, _ bool) error {
	dir := f.folder(types.NamespacedName{Namespace: s.Namespace, Name: s.Name})
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	meta, err := json.Marshal(metav1.ObjectMeta{Labels: s.Labels, Annotations: s.Annotations})
	if err != nil {
		return err
	}
	// The metadata goes last: a Secret whose files are half written reads as
	// stale and is written again.
	for name, data := range s.Data {
		if err := atomicfile.Write(dir, name, data); err != nil {
			return err
		}
	}
	return atomicfile.Write(dir, metadataFile, meta)
}

func (f FolderStore) List(_ context.Context, labels map[string]string) ([]corev1.Secret, error) {
	namespaces, err := os.ReadDir(f.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []corev1.Secret
	for _, ns := range namespaces {
		names, _ := os.ReadDir(filepath.Join(f.Dir, ns.Name()))
		for _, n := range names {
			s, err := f.Get(context.Background(), types.NamespacedName{Namespace: ns.Name(), Name: n.Name()})
			if err != nil {
				continue
			}
			if hasLabels(s.Labels, labels) {
				out = append(out, *s)
			}
		}
	}
	return out, nil
}

func (f FolderStore) Delete(_ context.Context, s *corev1.Secret) error {
	return os.RemoveAll(f.folder(types.NamespacedName{Namespace: s.Namespace, Name: s.Name}))
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
