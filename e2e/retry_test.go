package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/meshrun"
)

// flaky is a Service whose one pod fails every fourth call with UNAVAILABLE.
const flaky = `
apiVersion: v1
kind: ServiceAccount
metadata: {name: flaky, namespace: bookstore}
---
apiVersion: v1
kind: Service
metadata: {name: flaky, namespace: bookstore}
spec:
  selector: {app: flaky}
  ports: [{name: grpc, port: 14002, targetPort: 14002, appProtocol: grpc}]
---
apiVersion: v1
kind: Pod
metadata:
  name: flaky
  namespace: bookstore
  labels: {app: flaky}
  annotations: {weft.dev/proxyless: grpc}
spec:
  serviceAccountName: flaky
  containers: [{name: flaky, image: bookapp, ports: [{name: grpc, containerPort: 14002}]}]
status: {podIP: 127.0.1.3}
`

// retry is OSM's Retry policy from bookbuyer to flaky, and the MeshConfig
// flag that turns Retry policies on.
const retry = `
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Retry
metadata: {name: bookbuyer-retry, namespace: bookbuyer}
spec:
  source: {kind: ServiceAccount, name: bookbuyer, namespace: bookbuyer}
  destinations: [{kind: Service, name: flaky, namespace: bookstore}]
  retryPolicy: {retryOn: "5xx", numRetries: 3, retryBackoffBaseInterval: 10ms}
`

const retryMeshConfig = `
apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata: {name: osm-mesh-config, namespace: osm-system}
spec:
  traffic: {enablePermissiveTrafficPolicyMode: true}
  featureFlags: {enableRetryPolicy: true}
`

// TestRetriesThroughTheMesh shows a Retry policy at work from the client's
// side: calls to a server that fails one call in four fail until the policy
// (OSM's "5xx", which gRPC retries as UNAVAILABLE) is applied, then none do.
func TestRetriesThroughTheMesh(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	story := startBookstore(t, ctx)
	m := story.Mesh
	if _, err := m.Apply("flaky.yaml", []byte(flaky)); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Serve(ctx, "bookstore", "flaky", "flaky", "127.0.1.3:14002", "--unavailable-every", "4"); err != nil {
		t.Fatal(err)
	}
	caller, err := m.Caller(ctx, "bookbuyer", "bookbuyer", "xds:///flaky.bookstore.svc.cluster.local:14002", "unary", 100)
	if err != nil {
		t.Fatal(err)
	}
	wait, cancelWait := context.WithTimeout(ctx, 30*time.Second)
	defer cancelWait()
	if _, _, err := caller.WaitFor(wait, 3, func(c meshrun.Call) bool { return c.OK }); err != nil {
		t.Fatalf("bookbuyer never reached flaky: %v", err)
	}
	before, err := caller.Calls(ctx, 200)
	if err != nil {
		t.Fatal(err)
	}
	if o := before.Outcomes(); o["Unavailable"] < 30 {
		t.Fatalf("without a Retry policy: %s, want about one call in four Unavailable", before)
	}
	t.Logf("without a Retry policy: %s", before)

	if _, err := m.Apply("meshconfig.yaml", []byte(retryMeshConfig)); err != nil {
		t.Fatal(err)
	}
	at, err := m.Apply("retry.yaml", []byte(retry))
	if err != nil {
		t.Fatal(err)
	}
	wait2, cancelWait2 := context.WithTimeout(ctx, 30*time.Second)
	defer cancelWait2()
	from, _, err := caller.WaitFor(wait2, 400, func(c meshrun.Call) bool { return c.OK })
	if err != nil {
		t.Fatalf("with the Retry policy calls still fail: %v", err)
	}
	t.Logf("with the Retry policy: 400 calls in a row succeeded, from %v after the policy was written", from.Sub(at).Round(time.Millisecond))
}
