package envoy

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/identity"
)

func (g *gen) transportSocket(m proto.Message) *corev3.TransportSocket {
	return &corev3.TransportSocket{Name: wellknown.TransportSocketTLS, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: g.any(m)}}
}

func sdsConfig(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: adsSource()}
}

// tlsParams are the MeshConfig's TLS versions, cipher suites and ECDH curves
// for sidecars, or nil for Envoy's defaults.
func (g *gen) tlsParams() *tlsv3.TlsParameters {
	st := g.model.Settings
	minV, maxV := tlsVersion(st.TLSMinVersion), tlsVersion(st.TLSMaxVersion)
	if minV == tlsv3.TlsParameters_TLS_AUTO && maxV == tlsv3.TlsParameters_TLS_AUTO && len(st.TLSCipherSuites)+len(st.TLSECDHCurves) == 0 {
		return nil
	}
	return &tlsv3.TlsParameters{TlsMinimumProtocolVersion: minV, TlsMaximumProtocolVersion: maxV,
		CipherSuites: st.TLSCipherSuites, EcdhCurves: st.TLSECDHCurves}
}

func tlsVersion(v catalog.TLSVersion) tlsv3.TlsParameters_TlsProtocol {
	switch v {
	case catalog.TLSv1_0:
		return tlsv3.TlsParameters_TLSv1_0
	case catalog.TLSv1_1:
		return tlsv3.TlsParameters_TLSv1_1
	case catalog.TLSv1_2:
		return tlsv3.TlsParameters_TLSv1_2
	case catalog.TLSv1_3:
		return tlsv3.TlsParameters_TLSv1_3
	}
	return tlsv3.TlsParameters_TLS_AUTO
}

// identitySANs match the certificates of the given identities: the DNS SAN
// (<sa>.<ns>.<td>) and the SPIFFE URI SAN the CA puts in service certificates.
func (g *gen) identitySANs(ids []identity.Identity) []*tlsv3.SubjectAltNameMatcher {
	var out []*tlsv3.SubjectAltNameMatcher
	for _, id := range ids {
		out = append(out,
			&tlsv3.SubjectAltNameMatcher{SanType: tlsv3.SubjectAltNameMatcher_DNS, Matcher: exact(id.CommonName(g.trustDomain))},
			&tlsv3.SubjectAltNameMatcher{SanType: tlsv3.SubjectAltNameMatcher_URI, Matcher: exact(id.SPIFFEID(g.trustDomain).String())})
	}
	return out
}

func exact(s string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}
}

// upstreamTLS is the mTLS of a connection to a mesh Service: the proxy's own
// certificate, the Service's roots, and the Service's identities as the only
// acceptable peers.
func (g *gen) upstreamTLS(u *upstream) *corev3.TransportSocket {
	return g.transportSocket(&tlsv3.UpstreamTlsContext{
		Sni: u.sni,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsParams:                      g.tlsParams(),
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsConfig(ServiceCertSecretName(g.view.Identity))},
			ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
				CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
					DefaultValidationContext:         u.peers,
					ValidationContextSdsSecretConfig: u.roots,
				},
			},
		},
	})
}

// downstreamTLS terminates TLS with the proxy's own certificate; with
// verifyClients, clients must present a certificate the inbound roots sign
// (who they are is then RBAC's to decide).
func (g *gen) downstreamTLS(verifyClients bool) *corev3.TransportSocket {
	ctx := &tlsv3.DownstreamTlsContext{
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsParams:                      g.tlsParams(),
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsConfig(ServiceCertSecretName(g.view.Identity))},
		},
	}
	if verifyClients {
		ctx.RequireClientCertificate = wrapperspb.Bool(true)
		ctx.CommonTlsContext.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
			ValidationContextSdsSecretConfig: sdsConfig(InboundRootSecretName(g.view.Identity)),
		}
	}
	return g.transportSocket(ctx)
}
