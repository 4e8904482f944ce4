package envoy

import tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

// SDSSecretNames are the SDS secrets a TLS context asks for: its
// certificates and its validation context, plain or combined. The validator
// checks they are served; a client subscribes to them.
func SDSSecretNames(common *tlsv3.CommonTlsContext) []string {
	var names []string
	for _, s := range common.GetTlsCertificateSdsSecretConfigs() {
		names = append(names, s.GetName())
	}
	if s := common.GetValidationContextSdsSecretConfig(); s != nil {
		names = append(names, s.GetName())
	}
	if s := common.GetCombinedValidationContext().GetValidationContextSdsSecretConfig(); s != nil {
		names = append(names, s.GetName())
	}
	return names
}
