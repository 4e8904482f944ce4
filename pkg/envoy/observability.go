package envoy

import (
	"net"
	"strconv"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tracev3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	healthcheckv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/health_check/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// What MeshConfig's tracing, external authorization and active health
// checks add to the sidecars, under OSM's names, so that collectors,
// authorization services and sidecars of an OSM mesh being migrated still
// understand each other.
const (
	// TracingClusterName is the Zipkin collector's cluster.
	TracingClusterName = "envoy-tracing-cluster"
	// activeHealthCheckPath and activeHealthCheckHeader mark the requests a
	// sidecar sends to check its upstreams and answers for its app.
	activeHealthCheckPath   = "/osm-healthcheck"
	activeHealthCheckHeader = "x-osm-healthcheck"
	// extAuthzMaxRequestBytes is how much of a body the authorization
	// service sees.
	extAuthzMaxRequestBytes = 8192
)

// tracing sends the spans of mesh HTTP traffic to the Zipkin collector
// (observability.tracing); nil when tracing is off.
func (g *gen) tracing() *hcmv3.HttpConnectionManager_Tracing {
	t := g.model.Settings.Tracing
	if t == nil {
		return nil
	}
	zipkin := &tracev3.ZipkinConfig{
		CollectorCluster:         TracingClusterName,
		CollectorEndpoint:        t.Endpoint,
		CollectorEndpointVersion: tracev3.ZipkinConfig_HTTP_JSON,
	}
	return &hcmv3.HttpConnectionManager_Tracing{
		Verbose: true,
		Provider: &tracev3.Tracing_Http{
			Name:       "envoy.tracers.zipkin",
			ConfigType: &tracev3.Tracing_Http_TypedConfig{TypedConfig: g.any(zipkin)},
		},
	}
}

// tracingCluster is the collector, resolved by DNS; nil when tracing is off.
func (g *gen) tracingCluster() *clusterv3.Cluster {
	t := g.model.Settings.Tracing
	if t == nil {
		return nil
	}
	return &clusterv3.Cluster{
		Name:                 TracingClusterName,
		AltStatName:          TracingClusterName,
		ConnectTimeout:       durationpb.New(defaultConnectTimeout),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_LOGICAL_DNS},
		DnsLookupFamily:      clusterv3.Cluster_V4_PREFERRED,
		LoadAssignment:       singleEndpoint(TracingClusterName, t.Address, t.Port),
	}
}

// extAuthzFilter asks the external authorization service about each request
// the RBAC filter admitted (traffic.inboundExternalAuthorization); nil when
// off.
func (g *gen) extAuthzFilter() *hcmv3.HttpFilter {
	a := g.model.Settings.ExternalAuthorization
	if a == nil {
		return nil
	}
	return g.httpFilter(wellknown.HTTPExternalAuthorization, &extauthzv3.ExtAuthz{
		Services: &extauthzv3.ExtAuthz_GrpcService{GrpcService: &corev3.GrpcService{
			TargetSpecifier: &corev3.GrpcService_GoogleGrpc_{GoogleGrpc: &corev3.GrpcService_GoogleGrpc{
				TargetUri:  net.JoinHostPort(a.Address, strconv.Itoa(int(a.Port))),
				StatPrefix: a.StatPrefix,
			}},
			Timeout: durationpb.New(a.Timeout),
		}},
		TransportApiVersion: corev3.ApiVersion_V3,
		WithRequestBody:     &extauthzv3.BufferSettings{MaxRequestBytes: extAuthzMaxRequestBytes, AllowPartialMessage: true},
		FailureModeAllow:    a.FailureModeAllow,
	})
}

// healthCheckFilter answers the active health checks of other sidecars
// itself (featureFlags.enableEnvoyActiveHealthChecks): they learn whether
// this sidecar is up without reaching the app or its RBAC.
func (g *gen) healthCheckFilter() *hcmv3.HttpFilter {
	return g.httpFilter(wellknown.HealthCheck, &healthcheckv3.HealthCheck{
		PassThroughMode: wrapperspb.Bool(false),
		Headers: []*routev3.HeaderMatcher{
			{Name: ":path", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: exact(activeHealthCheckPath)}},
			{Name: activeHealthCheckHeader, HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}},
		},
	})
}

// activeHealthChecks check an HTTP Service's endpoints through their
// sidecars every 10 s: down after 3 failures, up after 1 success.
func activeHealthChecks(host string) []*corev3.HealthCheck {
	return []*corev3.HealthCheck{{
		Timeout:            durationpb.New(time.Second),
		Interval:           durationpb.New(10 * time.Second),
		HealthyThreshold:   wrapperspb.UInt32(1),
		UnhealthyThreshold: wrapperspb.UInt32(3),
		HealthChecker: &corev3.HealthCheck_HttpHealthCheck_{HttpHealthCheck: &corev3.HealthCheck_HttpHealthCheck{
			Host: host,
			Path: activeHealthCheckPath,
			RequestHeadersToAdd: []*corev3.HeaderValueOption{{
				Header: &corev3.HeaderValue{Key: activeHealthCheckHeader, Value: "1"},
			}},
		}},
	}}
}
