package envoy

import (
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// ServiceCertSecret is the SDS secret of a proxy's own certificate (name is
// ServiceCertSecretName of its identity): the PEM certificate chain and key.
func ServiceCertSecret(name string, certChainPEM, keyPEM []byte) *tlsv3.Secret {
	return &tlsv3.Secret{
		Name: name,
		Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: inlineBytes(certChainPEM),
			PrivateKey:       inlineBytes(keyPEM),
		}},
	}
}

// RootCertSecret is the SDS secret of a validation context (name is
// OutboundRootSecretName or InboundRootSecretName): the PEM trust bundle. The
// peers' subject alternative names are matched where the secret is referenced
// (a CombinedValidationContext's default context), not here, so one bundle
// serves every upstream.
func RootCertSecret(name string, trustBundlePEM []byte) *tlsv3.Secret {
	return &tlsv3.Secret{
		Name: name,
		Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: inlineBytes(trustBundlePEM),
		}},
	}
}

func inlineBytes(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
}

// secrets is the secret names pass: those the planned chains and clusters
// reference. The proxy's certificate serves every TLS chain and every mesh
// upstream; the inbound roots verify clients; each Service has its roots.
func (g *gen) secrets() []string {
	id := g.view.Identity
	names := map[string]bool{}
	for _, ch := range g.plan.inbound {
		if ch.local.tls {
			names[ServiceCertSecretName(id)] = true
		}
		if ch.local.verify {
			names[InboundRootSecretName(id)] = true
		}
	}
	for _, sp := range g.plan.services {
		names[ServiceCertSecretName(id)] = true
		names[OutboundRootSecretName(sp.svc.ServiceRef)] = true
	}
	var out []string
	for n := range names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
