package catalog

import (
	"net/netip"
	"time"

	"github.com/weft-mesh/weft/pkg/healthprobe"
	"github.com/weft-mesh/weft/pkg/identity"
)

// Model is the mesh as the xDS generator needs it. It is built by Build and never
// modified afterwards; pointers inside it are shared (an Outbound points at the
// Service in Services), so readers must not modify what they reach. Every slice
// is sorted (by namespace and name, or port) so that equal input gives equal
// output.
type Model struct {
	// Settings are the mesh-wide settings from the MeshConfig.
	Settings Settings
	// Services are the mesh's Services (those in monitored namespaces).
	Services []*Service
	// Identities are every service account of the mesh with its proxies' view.
	Identities []*IdentityView
	// IngressRules are the resolved IngressBackends, one per backend.
	IngressRules []*IngressRule
	// EgressRules are the resolved Egress policies.
	EgressRules []*EgressRule
	// Gateways are the Gateways of Weft's GatewayClasses, each a proxy of
	// kind gateway, sorted by namespace and name.
	Gateways []*Gateway
	// Problems list the input that was skipped, and why.
	Problems []Problem

	services   map[ServiceRef]*Service
	identities map[identity.Identity]*IdentityView
	hashes     map[identity.Identity]uint64
	// settingsHash is the hash of Settings, for proxies of identities the
	// model does not hold (UnknownIdentitiesChanged).
	settingsHash uint64
	// metrics says, per proxy ID, whether its pod asks to be scraped
	// (MetricsEnabled).
	metrics map[string]bool
}

// Settings are the mesh-wide settings: the MeshConfig's, whose omitted fields
// take OSM's defaults (configv1alpha2.DefaultSpec), or without a MeshConfig
// configv1alpha2.SpecOrDefault's (permissive mode and egress passthrough off).
type Settings struct {
	// Permissive lets every mesh identity reach every service
	// (traffic.enablePermissiveTrafficPolicyMode).
	Permissive bool
	// EgressPassthrough lets every proxy reach any destination outside the mesh
	// (traffic.enableEgress).
	EgressPassthrough bool
	// TrustDomain ends every identity's certificate name and is the host of
	// its SPIFFE ID (mesh.Config.TrustDomain).
	TrustDomain string
	// ClusterDomain ends every Service's DNS name (mesh.Config.ClusterDomain).
	ClusterDomain string
	// TLSMinVersion and TLSMaxVersion bound the sidecars' TLS versions
	// (sidecar.tlsMinProtocolVersion and tlsMaxProtocolVersion, TLSv1_2 and
	// TLSv1_3 by default); TLSAuto (TLS_AUTO) leaves the bound to Envoy.
	TLSMinVersion, TLSMaxVersion TLSVersion
	// TLSCipherSuites and TLSECDHCurves restrict the sidecars' TLS
	// (sidecar.cipherSuites, sidecar.ecdhCurves); empty leaves Envoy's.
	TLSCipherSuites, TLSECDHCurves []string
	// LocalProxyPodIP makes sidecars reach their app at the pod's address
	// rather than 127.0.0.1 (sidecar.localProxyMode: PodIP), for apps that
	// listen on the pod's address only.
	LocalProxyPodIP bool
	// Tracing sends the spans of HTTP requests to a Zipkin collector
	// (observability.tracing); nil when off.
	Tracing *Tracing
	// ExternalAuthorization asks a gRPC ext_authz service about every
	// inbound and ingress HTTP request (traffic.inboundExternalAuthorization);
	// nil when off.
	ExternalAuthorization *ExternalAuthorization
	// ActiveHealthChecks has sidecars health-check the endpoints of the
	// Services they reach, and answer those checks themselves
	// (featureFlags.enableEnvoyActiveHealthChecks).
	ActiveHealthChecks bool
}

// Tracing is where spans go: a Zipkin collector's host, port and path.
type Tracing struct {
	Address  string
	Port     uint32
	Endpoint string
}

// ExternalAuthorization is an ext_authz gRPC service.
type ExternalAuthorization struct {
	Address    string
	Port       uint32
	StatPrefix string
	// Timeout bounds each check; FailureModeAllow admits a request when the
	// service cannot answer.
	Timeout          time.Duration
	FailureModeAllow bool
}

// TLSVersion is a TLS protocol version.
type TLSVersion uint8

// TLS versions; TLSAuto is Envoy's default.
const (
	TLSAuto TLSVersion = iota
	TLSv1_0
	TLSv1_1
	TLSv1_2
	TLSv1_3
)

// Protocol is what a service port speaks, from its appProtocol or name prefix.
type Protocol string

// Protocols of service ports.
const (
	ProtocolHTTP           Protocol = "http"
	ProtocolHTTP2          Protocol = "http2"
	ProtocolGRPC           Protocol = "grpc"
	ProtocolTCP            Protocol = "tcp"
	ProtocolTCPServerFirst Protocol = "tcp-server-first"
	// ProtocolHTTPS is a policy's (IngressBackend, Egress) TLS port.
	ProtocolHTTPS Protocol = "https"
)

// IsHTTP reports whether HTTP routes (and HTTPRouteGroup matches) apply to the port.
func (p Protocol) IsHTTP() bool {
	return p == ProtocolHTTP || p == ProtocolHTTP2 || p == ProtocolGRPC
}

// Service is a mesh Service.
type Service struct {
	ServiceRef
	// ClusterIPs are the Service's virtual IPs; none for a headless Service.
	ClusterIPs []string
	// Headless is true for clusterIP: None; its endpoints are addressed one by one.
	Headless bool
	// Ports are the TCP ports (UDP and SCTP ports are not meshed).
	Ports []ServicePort
	// Endpoints are one entry per address and port, ready or not.
	Endpoints []Endpoint
	// Identities serve the Service: the service accounts of its endpoints' pods
	// and of the pods its selector selects.
	Identities []identity.Identity
	// Split, when set, divides traffic to this (root) Service among backends.
	Split *Split
	// Routes are the GAMMA routes' rules (HTTPRoutes and GRPCRoutes whose
	// parent is this Service), one entry per match, in Gateway API's order of
	// precedence. When a route attaches, they decide where requests to the
	// Service's HTTP ports go, and Split is nil: routes win over a TrafficSplit.
	Routes []RouteRule
	// UpstreamTrafficSetting applies to traffic to this Service, if any.
	UpstreamTrafficSetting *UpstreamTrafficSetting
}

// ServicePort is one port of a Service.
type ServicePort struct {
	// Name is the port's name, which endpoints use to refer to it.
	Name string
	// Port is the Service's port.
	Port int32
	// TargetPort is the pods' port when given as a number; TargetPortName is set
	// instead when given by name (each endpoint then carries its number).
	TargetPort     int32
	TargetPortName string
	// Protocol is from appProtocol, else from the name's prefix, else http.
	Protocol Protocol
}

// Endpoint is one address and port behind a Service port.
type Endpoint struct {
	// IP is the address.
	IP string
	// PortName names the ServicePort; Port is the number on the pod.
	PortName string
	Port     int32
	// Ready, Serving and Terminating are the EndpointSlice conditions (a missing
	// ready or serving condition counts as true, as Kubernetes reads it).
	Ready, Serving, Terminating bool
	// PodName is the pod behind the address, if the slice names it, and Identity
	// its service account (zero when unknown).
	PodName  string
	Identity identity.Identity
	// Hostname is the endpoint's hostname (a StatefulSet pod's name); for a
	// headless Service DNSName is then <hostname>.<service>.<ns>.svc.cluster.local.
	Hostname, DNSName string
	// NodeName and Zone are where the endpoint runs, when known.
	NodeName, Zone string
}

// Split is a TrafficSplit resolved: the root Service's traffic goes to the
// backends in proportion to their weights.
type Split struct {
	// Policy is the TrafficSplit.
	Policy ObjectRef
	// Backends are the existing backend Services, with their weights.
	Backends []WeightedBackend
}

// WeightedBackend is a split's backend.
type WeightedBackend struct {
	Service ServiceRef
	// Weight is the backend's weight in thousandths ("500m" is 500, "50" is
	// 50000); only the ratio between backends matters. Zero sends nothing.
	Weight uint32
}

// RouteRule is one match of a GAMMA route's rule and what it does: a request
// that matches goes to Backends by weight, with the headers modified and within
// the timeouts.
type RouteRule struct {
	// Policy is the HTTPRoute or GRPCRoute; Rule is the rule's index in it.
	Policy ObjectRef
	Rule   int
	// Port is the parent Service's port the route attaches to; 0 for each of
	// its HTTP ports.
	Port  int32
	Match RouteMatch
	// Backends share the requests by weight (thousandths, as a split's); with
	// none, or all weighing zero, requests are answered 500.
	Backends []RouteBackend
	// RequestHeaders and ResponseHeaders are the header modifier filters.
	RequestHeaders, ResponseHeaders *HeaderModifier
	// Timeout bounds the whole request, BackendTimeout each try; zero when
	// unset, which leaves no deadline (as without a route).
	Timeout, BackendTimeout time.Duration
	// Hostnames, on a Gateway listener, are the hosts the rule answers: its
	// route's hostnames within the listener's hostname (a "*." prefix is a
	// wildcard); nil for every host the listener takes. GAMMA rules have
	// none (the parent Service names the host).
	Hostnames []string
}

// RouteBackend is a route's backend: a split's weighted backend and its port
// (0 for the port a split's backend would take, which only files may leave).
type RouteBackend struct {
	WeightedBackend
	Port int32
}

// PathMatchType is how a RouteMatch compares the path.
type PathMatchType string

// Path match types, as Gateway API's.
const (
	PathAny    PathMatchType = ""
	PathExact  PathMatchType = "Exact"
	PathPrefix PathMatchType = "PathPrefix"
	PathRegex  PathMatchType = "RegularExpression"
)

// RouteMatch is one match of a route's rule; every condition must hold.
type RouteMatch struct {
	// PathType and Path match the path; a PathPrefix matches whole segments
	// and carries no trailing slash (except "/" itself).
	PathType PathMatchType
	Path     string
	// Method is the HTTP method; empty matches any.
	Method string
	// Headers and QueryParams must all match.
	Headers, QueryParams []ValueMatch
}

// ValueMatch matches a header or query parameter by name, its value exactly
// or, with Regex, as an RE2 regular expression.
type ValueMatch struct {
	Name, Value string
	Regex       bool
}

// HeaderModifier sets, adds and removes headers.
type HeaderModifier struct {
	Set, Add []Header
	Remove   []string
}

// UpstreamTrafficSetting is an UpstreamTrafficSetting attached to a Service or
// an Egress rule.
type UpstreamTrafficSetting struct {
	Policy ObjectRef
	// MaxConnections, MaxRequests, MaxPendingRequests and MaxRetries are the
	// connection limits (circuit breakers); nil when unset.
	MaxConnections, MaxRequests, MaxPendingRequests, MaxRetries *uint32
	// MaxRequestsPerConnection is nil when unset.
	MaxRequestsPerConnection *uint32
	// ConnectTimeout is zero when unset or under a millisecond (the default
	// then applies).
	ConnectTimeout time.Duration
	// TCPRateLimit limits new connections; nil when unset or zero.
	TCPRateLimit *TCPRateLimit
	// HTTPRateLimit limits all of a port's requests; nil when unset or zero.
	HTTPRateLimit *HTTPRateLimit
	// RouteRateLimits limit the requests whose path matches, in the setting's
	// order; only routes with a non-zero limit are kept.
	RouteRateLimits []RouteRateLimit
}

// TCPRateLimit admits Connections per FillInterval, plus Burst at once.
type TCPRateLimit struct {
	Connections, Burst uint32
	FillInterval       time.Duration
}

// HTTPRateLimit admits Requests per FillInterval, plus Burst at once; the
// refused get ResponseStatusCode (0 for Envoy's default) and the headers.
type HTTPRateLimit struct {
	Requests, Burst      uint32
	FillInterval         time.Duration
	ResponseStatusCode   uint32
	ResponseHeadersToAdd []Header
}

// Header is a header name and value.
type Header struct {
	Name, Value string
}

// RouteRateLimit is a rate limit on the requests whose path matches PathRegex
// (an RE2 regular expression).
type RouteRateLimit struct {
	PathRegex string
	RateLimit HTTPRateLimit
}

// RetryPolicy is a Retry resolved for one source and destination.
type RetryPolicy struct {
	Policy ObjectRef
	// RetryOn is Envoy's comma-separated list of retry conditions.
	RetryOn string
	// NumRetries is nil when unset; PerTryTimeout and BackoffBaseInterval are
	// zero when unset.
	NumRetries          *uint32
	PerTryTimeout       time.Duration
	BackoffBaseInterval time.Duration
}

// IdentityView is everything a proxy running as one identity needs.
type IdentityView struct {
	Identity identity.Identity
	// Services are the Services this identity serves.
	Services []ServiceRef
	// Inbound says who may reach each port of those Services.
	Inbound []InboundPort
	// Outbound are the Services this identity may reach.
	Outbound []Outbound
	// Ingress are the IngressBackend rules whose backend this identity serves.
	Ingress []*IngressRule
	// Egress are the Egress rules naming this identity as a source.
	Egress []*EgressRule
	// EgressPassthrough lets the identity reach anything outside the mesh.
	EgressPassthrough bool
	// HealthProbes are the app probes the injector moved to the sidecar's
	// ports 15901-15904 on this identity's pods, sorted by port and path.
	HealthProbes []healthprobe.Probe
}

// InboundPort is who may reach one port of a Service this identity serves.
type InboundPort struct {
	Service ServiceRef
	Port    ServicePort
	// AllowAll admits any mesh identity (permissive mode).
	AllowAll bool
	// Rules are the SMI permissions; with neither AllowAll nor a rule, nothing
	// from the mesh may reach the port.
	Rules []InboundRule
	// UpstreamTrafficSetting carries the Service's rate limits, enforced here.
	UpstreamTrafficSetting *UpstreamTrafficSetting
}

// InboundRule is one TrafficTarget's permission on a port.
type InboundRule struct {
	// Policy is the TrafficTarget, or the Gateway whose routes reach the
	// port (its identity admitted without an IngressBackend).
	Policy ObjectRef
	// Sources may send.
	Sources []identity.Identity
	// AllTraffic admits everything on the port (a TCPRoute naming the port).
	AllTraffic bool
	// HTTPMatches are the admitted requests when not AllTraffic: a request is
	// admitted if it matches any of them.
	HTTPMatches []HTTPMatch
}

// HTTPMatch is one HTTPRouteGroup match: every condition set must hold.
type HTTPMatch struct {
	// RouteGroup is the HTTPRouteGroup; Name the match's name in it.
	RouteGroup ObjectRef
	Name       string
	// PathRegex is an RE2 regular expression on the path; empty matches any.
	PathRegex string
	// Methods are the admitted methods; empty admits any ("*" is folded here).
	Methods []string
	// Headers must all match (value as an RE2 regular expression).
	Headers []HeaderMatch
}

// HeaderMatch is a header name and a regular expression on its value.
type HeaderMatch struct {
	Name, ValueRegex string
}

// Outbound is a Service an identity may reach.
type Outbound struct {
	Service *Service
	// Backends, when the Service is a split's root, replace it as destinations;
	// each points at the backend Service.
	Backends []OutboundBackend
	// Retry is this identity's retry policy toward the Service, if any.
	Retry *RetryPolicy
}

// OutboundBackend is a split's backend as seen from a source.
type OutboundBackend struct {
	Service *Service
	Weight  uint32
}

// IngressRule is one backend of an IngressBackend, with its sources resolved.
type IngressRule struct {
	Policy  ObjectRef
	Backend ServiceRef
	// Port is the backend's port the rule names (matched against the target
	// port, then the Service port); Protocol is http, https, tcp or grpc.
	Port     ServicePort
	Protocol Protocol
	// TLS from the ingress controller to the backend.
	SkipClientCertValidation bool
	SNIHosts                 []string
	// SourceIPRanges admit clients by address: the endpoints of Service sources
	// (as /32 or /128) and IPRange sources. A Service source always adds some:
	// an IngressBackend naming one without endpoints is skipped.
	SourceIPRanges []netip.Prefix
	// SourcePrincipals admit clients by certificate name (AuthenticatedPrincipal).
	SourcePrincipals []string
	// SourceServices are the Service sources, for reference.
	SourceServices []ServiceRef
	// HTTPMatches narrow the admitted requests when set (spec.matches).
	HTTPMatches []HTTPMatch
}

// EgressRule is an Egress policy resolved.
type EgressRule struct {
	Policy  ObjectRef
	Sources []identity.Identity
	// Hosts are matched by HTTP Host or TLS SNI (never on tcp ports);
	// IPRanges by destination address.
	Hosts    []string
	IPRanges []netip.Prefix
	Ports    []PolicyPort
	// HTTPMatches narrow HTTP traffic when set.
	HTTPMatches []HTTPMatch
	// UpstreamTrafficSetting applies to the destination, if a match names one.
	UpstreamTrafficSetting *UpstreamTrafficSetting
}

// PolicyPort is a port and protocol in a policy.
type PolicyPort struct {
	Number   int32
	Protocol Protocol
	// AnyDestination matches the port whatever the destination, as OSM did for
	// an Egress tcp or tcp-server-first port without IP ranges, and an https
	// port without hosts or IP ranges.
	AnyDestination bool
}

// Service returns the mesh Service ref names, or nil.
func (m *Model) Service(ref ServiceRef) *Service { return m.services[ref] }

// Identity returns the view of one identity, or nil when it is not in the mesh.
func (m *Model) Identity(id identity.Identity) *IdentityView { return m.identities[id] }
