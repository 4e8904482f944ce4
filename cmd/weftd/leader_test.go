package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/internal/adstest"
	"github.com/weft-mesh/weft/internal/testenv"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// The replicas' lease settings: shorter than weftd's defaults (15 s, 10 s,
// 2 s) so that a takeover after a crash fits in a test.
const (
	testLeaseDuration = 4 * time.Second
	testRenewDeadline = 2 * time.Second
	testRetryPeriod   = 500 * time.Millisecond
)

// failoverBound is the longest client-go's leader election lets a takeover
// take with those settings; a protocol bound, not a performance target. A
// follower takes a Lease once it has not seen it renewed for testLeaseDuration
// (a leader that stops releases it, so usually at once), and tries every
// testRetryPeriod stretched by up to 1.2 more (client-go's JitterFactor). The
// last second is for the API server's answers on a busy 2-core machine.
const failoverBound = testLeaseDuration + testRetryPeriod*22/10 + time.Second

// replica is one weftd run in this process.
type replica struct {
	o      options
	cancel context.CancelFunc
	done   chan error
	logs   string // a file: os.File writes need no lock
}

// startReplica runs weftd as replica id; configure changes its options.
func startReplica(t *testing.T, kubeconfig, id string, configure ...func(*options)) *replica {
	t.Helper()
	// The webhook server's certificate comes from the mesh CA, so the leader
	// writes the webhook configurations' caBundle.
	o := clusterOptions(t, kubeconfig)
	o.leaderElect, o.leaderID = true, id
	o.leaseDuration, o.leaseRenewDeadline, o.leaseRetryPeriod = testLeaseDuration, testRenewDeadline, testRetryPeriod
	for _, c := range configure {
		c(&o)
	}
	logs, err := os.Create(filepath.Join(t.TempDir(), id+".log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{o: o, cancel: cancel, done: make(chan error, 1), logs: logs.Name()}
	go func() { r.done <- run(ctx, slog.New(slog.NewTextHandler(logs, nil)), o) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop ends the replica once and reports its error.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	if r.done == nil {
		return
	}
	r.cancel()
	if err := <-r.done; err != nil {
		t.Errorf("weftd %s: %v", r.o.leaderID, err)
	}
	r.done = nil
	if t.Failed() {
		logs, _ := os.ReadFile(r.logs)
		t.Logf("logs of %s:\n%s", r.o.leaderID, logs)
	}
}

// TestReplicasElectOneWriter runs two weftd replicas against one API server:
// both serve with the one mesh root, only the Lease holder writes, and when it
// stops the other takes the Lease within failoverBound and writes, with the
// one root unchanged, while a proxy connected to it keeps its stream and its
// configuration.
func TestReplicasElectOneWriter(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	env.ApplyFiles(t, "examples/osm-system-namespace.yaml", "examples/meshconfig.yaml", "examples/bookstore")
	validator := inertValidatingWebhook()
	if err := env.Client.Create(ctx, validator); err != nil {
		t.Fatal(err)
	}

	replicas := map[string]*replica{}
	for _, id := range []string{"weftd-a", "weftd-b"} {
		replicas[id] = startReplica(t, env.KubeconfigPath, id)
	}

	holder := leaseHolder(env)
	leader, follower := electedLeader(t, holder, replicas)
	t.Logf("leader %s, follower %s", leader, follower)

	var secrets corev1.SecretList
	testenv.Eventually(t, "the leader creates the root Secret", func() bool {
		return env.Client.List(ctx, &secrets, client.InNamespace("osm-system"), client.MatchingLabels{"app.kubernetes.io/component": "ca-root"}) == nil &&
			len(secrets.Items) > 0
	})
	if len(secrets.Items) != 1 {
		t.Fatalf("%d root Secrets, want 1", len(secrets.Items))
	}
	root := secrets.Items[0]
	manager, _, pair := proxyFromRoot(t, root.Data[internalca.KeyCert], root.Data[internalca.KeyKey], root.Data[internalca.KeyBundle],
		identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"})

	t.Run("both replicas serve ADS and the webhooks with certificates of the one root", func(t *testing.T) {
		for id, r := range replicas {
			for _, port := range []int{r.o.xdsPort, r.o.webhookPort} {
				testenv.Eventually(t, id+" serves on port "+strconv.Itoa(port)+" with a certificate of the root", func() bool {
					conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), &tls.Config{
						Certificates: []tls.Certificate{pair}, RootCAs: manager.BundlePool(), ServerName: "weftd.osm-system.svc", MinVersion: tls.VersionTLS12,
					})
					if err != nil {
						return false
					}
					conn.Close()
					return true
				})
			}
		}
	})

	caBundle := func() []byte {
		var v admissionregistrationv1.ValidatingWebhookConfiguration
		if err := env.Client.Get(ctx, client.ObjectKey{Name: mesh.ValidatingWebhookName("osm")}, &v); err != nil {
			t.Fatal(err)
		}
		return v.Webhooks[0].ClientConfig.CABundle
	}
	testenv.Eventually(t, "the leader writes the webhook caBundle", func() bool { return bytes.Equal(caBundle(), manager.Bundle()) })
	// Cleared, it stays so: the leader writes it when the bundle changes,
	// the follower never.
	if err := env.Client.Patch(ctx, validator, client.RawPatch("application/json-patch+json",
		[]byte(`[{"op":"remove","path":"/webhooks/0/clientConfig/caBundle"}]`))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if len(caBundle()) != 0 {
		t.Fatal("a replica rewrote the caBundle although the bundle did not change")
	}

	// A bookbuyer proxy on the follower, settled on its configuration
	// before the leader stops.
	f := replicas[follower]
	testenv.Eventually(t, follower+" builds its first mesh model", func() bool {
		_, err := httpGet("http://" + f.o.debugAddr + "/debug/problems")
		return err == nil
	})
	_, buyer, buyerPair := proxyFromRoot(t, root.Data[internalca.KeyCert], root.Data[internalca.KeyKey], root.Data[internalca.KeyBundle],
		identity.Identity{Namespace: "bookbuyer", ServiceAccount: "bookbuyer"})
	stream := adstest.Dial(t, ctx, xdsAddr(f.o), buyerPair, manager.BundlePool(), buyer.CommonName(identity.DefaultTrustDomain))
	stream.Await(t, resource.ClusterType, nil, func(*discovery.DiscoveryResponse) bool { return true })
	settled := stream.Settle(t, time.Second)

	t.Run("when the leader stops, the follower takes the Lease within the bound and writes", func(t *testing.T) {
		stopped := time.Now()
		replicas[leader].stop(t)
		testenv.Eventually(t, follower+" holds the Lease", func() bool { return holder() == follower })
		took := time.Since(stopped)
		testenv.Eventually(t, "the new leader writes the webhook caBundle", func() bool { return bytes.Equal(caBundle(), manager.Bundle()) })
		wrote := time.Since(stopped)
		t.Logf("%s stopped; %s held the Lease %v later and had written the caBundle %v later (lease %v, renew deadline %v, retry %v; bound %v)",
			leader, follower, took.Round(time.Millisecond), wrote.Round(time.Millisecond),
			testLeaseDuration, testRenewDeadline, testRetryPeriod, failoverBound)
		if took > failoverBound {
			t.Errorf("the takeover took %v, more than the lease settings allow (%v)", took.Round(time.Millisecond), failoverBound)
		}

		env.ApplyFiles(t, "examples/policies/retry.yaml")
		testenv.Eventually(t, "the new leader writes a new policy's status", func() bool {
			var retry policyv1alpha1.Retry
			return env.Client.Get(ctx, client.ObjectKey{Namespace: "bookbuyer", Name: "bookbuyer-retry"}, &retry) == nil &&
				retry.Status.CurrentStatus != ""
		})
	})

	t.Run("after the takeover there is one root Secret, unchanged", func(t *testing.T) {
		var after corev1.SecretList
		if err := env.Client.List(ctx, &after, client.InNamespace("osm-system"), client.MatchingLabels{"app.kubernetes.io/component": "ca-root"}); err != nil {
			t.Fatal(err)
		}
		if len(after.Items) != 1 {
			t.Fatalf("%d root Secrets, want 1", len(after.Items))
		}
		got := after.Items[0]
		if got.Name != root.Name || got.UID != root.UID || got.ResourceVersion != root.ResourceVersion || !reflect.DeepEqual(got.Data, root.Data) {
			t.Errorf("root Secret %s (uid %s, resourceVersion %s) changed from %s (uid %s, resourceVersion %s), or its data did",
				got.Name, got.UID, got.ResourceVersion, root.Name, root.UID, root.ResourceVersion)
		}
	})

	t.Run("the proxy on the follower keeps its stream and configuration across the takeover", func(t *testing.T) {
		// Whatever came on the stream since it settled is still queued:
		// nothing may have, the Retry included (a disabled feature).
		stream.Quiet(t, time.Second)
		// The same stream still takes a change, from the new leader.
		patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"traffic":{"enableEgress":false}}}`))
		mc := &configv1alpha2.MeshConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "osm-system", Name: "osm-mesh-config"}}
		if err := env.Client.Patch(ctx, mc, patch); err != nil {
			t.Fatal(err)
		}
		stream.Await(t, "", nil, func(resp *discovery.DiscoveryResponse) bool {
			return resp.GetTypeUrl() == resource.ClusterType && resp.GetVersionInfo() != settled.GetVersionInfo()
		})
	})
}

// inertValidatingWebhook is a validating webhook configuration by weftd's
// name, whose caBundle the leader keeps; it matches nothing tests create.
func inertValidatingWebhook() *admissionregistrationv1.ValidatingWebhookConfiguration {
	none := admissionregistrationv1.SideEffectClassNone
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: mesh.ValidatingWebhookName("osm")},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    "policies.weft.test",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://127.0.0.1:1/validate")},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{"weft.invalid"}, APIVersions: []string{"v1"}, Resources: []string{"nothings"}}}},
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
		}},
	}
}

type countingStatuses struct{ writes int }

func (c *countingStatuses) Write(context.Context, *k8s.State, func(kind, namespace, name string) []string) error {
	c.writes++
	return nil
}

// TestFollowersHoldStatuses: a follower writes no status, and writes the last
// it was handed when it starts leading.
func TestFollowersHoldStatuses(t *testing.T) {
	lead := &gate{started: make(chan struct{})}
	w := &countingStatuses{}
	statuses := &leaderStatuses{w: w, gate: lead}
	ctx := context.Background()
	for range 2 {
		if err := statuses.Write(ctx, &k8s.State{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if w.writes != 0 {
		t.Fatalf("a follower wrote %d times", w.writes)
	}
	lead.ctx = ctx
	close(lead.started)
	statuses.flush(ctx, slog.New(slog.DiscardHandler))
	statuses.flush(ctx, slog.New(slog.DiscardHandler))
	if err := statuses.Write(ctx, &k8s.State{}, nil); err != nil {
		t.Fatal(err)
	}
	if w.writes != 2 {
		t.Errorf("%d writes, want 2: the held one once, then the leader's", w.writes)
	}
}

// leaseHolder reads who holds weftd's Lease in osm-system ("" when no one).
func leaseHolder(env *testenv.Env) func() string {
	return func() string {
		var lease coordinationv1.Lease
		if env.Client.Get(context.Background(), client.ObjectKey{Namespace: "osm-system", Name: leaseName}, &lease) != nil || lease.Spec.HolderIdentity == nil {
			return ""
		}
		return *lease.Spec.HolderIdentity
	}
}

// electedLeader waits until one of the two replicas weftd-a and weftd-b
// holds the Lease, and names it and the other.
func electedLeader(t *testing.T, holder func() string, replicas map[string]*replica) (leader, follower string) {
	t.Helper()
	testenv.Eventually(t, "one replica holds the Lease", func() bool { return replicas[holder()] != nil })
	leader, follower = holder(), "weftd-a"
	if leader == follower {
		follower = "weftd-b"
	}
	return leader, follower
}
