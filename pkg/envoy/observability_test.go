package envoy_test

import (
	"slices"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	tracev3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/weft-mesh/weft/pkg/envoy"
)

// The MeshConfig features sidecars carry out, each as OSM's sidecars did:
// TLS cipher suites and curves, the app on the pod's address
// (localProxyMode: PodIP), Zipkin tracing to OSM's default collector,
// inbound external authorization, and active health checks.
func TestMeshConfigFeatures(t *testing.T) {
	fixtures := []string{"observability.yaml", "bookstore.yaml", "access.yaml"}
	store := generate(t, fixtures, bookstore)
	buyer := generate(t, fixtures, bookbuyer)

	inbound := chain(t, listener(t, store, envoy.InboundListenerName), "inbound|bookstore/bookstore|14001")
	tls := unpack[*tlsv3.DownstreamTlsContext](t, inbound.GetTransportSocket().GetTypedConfig())
	if p := tls.GetCommonTlsContext().GetTlsParams(); !slices.Equal(p.GetCipherSuites(), []string{"ECDHE-ECDSA-AES256-GCM-SHA384"}) || !slices.Equal(p.GetEcdhCurves(), []string{"P-256"}) {
		t.Errorf("TLS parameters %v, want the MeshConfig's cipher suite and curve", p)
	}

	hcm := unpack[*hcmv3.HttpConnectionManager](t, named(t, inbound.GetFilters(), "envoy.filters.network.http_connection_manager", "inbound filters").GetTypedConfig())
	var filters []string
	for _, f := range hcm.GetHttpFilters() {
		filters = append(filters, f.GetName())
	}
	if want := []string{"envoy.filters.http.health_check", "envoy.filters.http.rbac", "envoy.filters.http.ext_authz", "envoy.filters.http.router"}; !slices.Equal(filters, want) {
		t.Errorf("inbound HTTP filters %v, want %v", filters, want)
	}
	authz := unpack[*extauthzv3.ExtAuthz](t, named(t, hcm.GetHttpFilters(), "envoy.filters.http.ext_authz", "inbound HTTP filters").GetTypedConfig())
	if g := authz.GetGrpcService(); g.GetGoogleGrpc().GetTargetUri() != "authz.authz.svc.cluster.local:9191" || g.GetTimeout().AsDuration().Seconds() != 2 || authz.GetFailureModeAllow() {
		t.Errorf("ext_authz %v, want authz.authz.svc.cluster.local:9191 with a 2s timeout, failing closed", authz)
	}
	zipkin := unpack[*tracev3.ZipkinConfig](t, hcm.GetTracing().GetProvider().GetTypedConfig())
	if zipkin.GetCollectorCluster() != envoy.TracingClusterName || zipkin.GetCollectorEndpoint() != "/api/v2/spans" {
		t.Errorf("tracing %v, want Zipkin to %s at /api/v2/spans", zipkin, envoy.TracingClusterName)
	}
	collector := cluster(t, store, envoy.TracingClusterName)
	if a := collector.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress(); a.GetAddress() != "jaeger.osm-system.svc.cluster.local" || a.GetPortValue() != 9411 {
		t.Errorf("the collector is %v, want OSM's default jaeger.osm-system.svc.cluster.local:9411", a)
	}

	local := cluster(t, store, "bookstore/bookstore|14001|local")
	if local.GetType() != clusterv3.Cluster_ORIGINAL_DST || local.GetOriginalDstLbConfig().GetUpstreamPortOverride().GetValue() != 14001 {
		t.Errorf("the local cluster is %v, want the connection's original destination (the pod's address) on port 14001", local)
	}

	upstream := cluster(t, buyer, "bookstore/bookstore|14001")
	hc := upstream.GetHealthChecks()
	if len(hc) != 1 || hc[0].GetHttpHealthCheck().GetPath() != "/osm-healthcheck" || hc[0].GetHttpHealthCheck().GetHost() != "bookstore.bookstore.svc.cluster.local" {
		t.Errorf("health checks %v, want an HTTP check of /osm-healthcheck", hc)
	}
}
