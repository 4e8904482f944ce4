package k8s

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// DecodeYAML reads every object of a multi-document YAML (or JSON) stream. Empty
// documents are skipped; a List is returned as its items. An error is a
// *DocumentError.
func DecodeYAML(r io.Reader) ([]*unstructured.Unstructured, error) {
	decoder := utilyaml.NewYAMLOrJSONDecoder(bufio.NewReader(r), 4096)
	var objs []*unstructured.Unstructured
	for doc := 1; ; doc++ {
		var obj unstructured.Unstructured
		err := decoder.Decode(&obj.Object)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, &DocumentError{Document: doc, Err: err}
		}
		if len(obj.Object) == 0 {
			continue
		}
		if obj.GetKind() == "" || obj.GetAPIVersion() == "" {
			return nil, &DocumentError{Document: doc, Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName(),
				Err: errors.New("an object needs apiVersion and kind")}
		}
		if obj.IsList() {
			err := obj.EachListItem(func(item runtime.Object) error {
				objs = append(objs, item.(*unstructured.Unstructured))
				return nil
			})
			if err != nil {
				return nil, &DocumentError{Document: doc, Kind: obj.GetKind(), Err: err}
			}
			continue
		}
		objs = append(objs, &obj)
	}
}

// DocumentError is a document of a stream that could not be read, with what
// could be read of the object it holds.
type DocumentError struct {
	// Document counts from 1.
	Document              int
	Kind, Namespace, Name string
	Err                   error
}

func (e *DocumentError) Error() string { return fmt.Sprintf("document %d: %v", e.Document, e.Err) }

func (e *DocumentError) Unwrap() error { return e.Err }

// DecodeYAMLFile reads every object in a YAML file; errors name the file.
func DecodeYAMLFile(path string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	objs, err := DecodeYAML(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return objs, nil
}
