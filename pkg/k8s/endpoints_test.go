package k8s

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/utils/ptr"
)

// Pods with an IP in the files get the EndpointSlices the controller would
// make; a Service whose slice is written keeps only that one.
func TestEndpointSlicesFromPods(t *testing.T) {
	dir := t.TempDir()
	const state = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {openservicemesh.io/monitored-by: osm}}
---
apiVersion: v1
kind: Service
metadata: {name: store, namespace: shop}
spec:
  selector: {app: store}
  ports: [{name: grpc, port: 8080, targetPort: api}]
---
apiVersion: v1
kind: Service
metadata: {name: written, namespace: shop}
spec:
  selector: {app: store}
  ports: [{name: grpc, port: 9090}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: written-abc, namespace: shop, labels: {kubernetes.io/service-name: written}}
addressType: IPv4
ports: [{name: grpc, port: 9090}]
endpoints: [{addresses: [10.0.0.9]}]
---
apiVersion: v1
kind: Pod
metadata: {name: store-1, namespace: shop, labels: {app: store}}
spec:
  serviceAccountName: store
  containers: [{name: app, image: x, ports: [{name: api, containerPort: 7001}]}]
status: {podIP: 127.0.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: store-2, namespace: shop, labels: {app: store}}
spec:
  serviceAccountName: store
  containers: [{name: app, image: x, ports: [{name: api, containerPort: 7002}]}]
status:
  podIP: 127.0.1.2
  conditions: [{type: Ready, status: "False"}]
---
apiVersion: v1
kind: Pod
metadata: {name: store-3, namespace: shop, labels: {app: store}}
spec:
  serviceAccountName: store
  containers: [{name: app, image: x, ports: [{name: api, containerPort: 7001}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: shop, labels: {app: other}}
spec:
  containers: [{name: app, image: x}]
status: {podIP: 127.0.1.3}
`
	if err := os.WriteFile(filepath.Join(dir, "state.yaml"), []byte(state), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := (&FilesSource{Paths: []string{dir}, Options: DefaultOptions()}).Load()
	if err != nil {
		t.Fatal(err)
	}
	type ep struct {
		slice, ip string
		port      int32
		ready     bool
	}
	var got []ep
	for _, sl := range s.EndpointSlices {
		for _, e := range sl.Endpoints {
			got = append(got, ep{sl.Name, e.Addresses[0], *sl.Ports[0].Port, ptr.Deref(e.Conditions.Ready, true)})
		}
	}
	want := []ep{
		// Each pod's named port gives its own number, so each gets a slice.
		{"store-ipv4-0", "127.0.1.1", 7001, true},
		{"store-ipv4-1", "127.0.1.2", 7002, false},
		{"written-abc", "10.0.0.9", 9090, true},
	}
	if len(got) != len(want) {
		t.Fatalf("endpoints = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("endpoint %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
