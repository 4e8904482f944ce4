package rules

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
)

// IngressBackend checks each backend (a port, a protocol of http, https, tcp
// or grpc in lower case as OSM's schema has them, and SNI hosts only with
// https, each a server name Envoy matches), each source (a CIDR for IPRange,
// written with its prefix length; a namespace for Service; a principal name
// for AuthenticatedPrincipal), and that matches name HTTPRouteGroups. The
// catalog skips a backend or a source at fault, and the IngressBackend for a
// fault in its matches: a match it left out would admit more.
func IngressBackend(ib *policyv1alpha1.IngressBackend) field.ErrorList {
	var errs field.ErrorList
	for i, b := range ib.Spec.Backends {
		p := spec.Child("backends").Index(i)
		errs = append(errs, portNumber(p.Child("port", "number"), b.Port.Number)...)
		errs = append(errs, oneOf(p.Child("port", "protocol"), b.Port.Protocol,
			policyv1alpha1.ProtocolHTTP, policyv1alpha1.ProtocolHTTPS, policyv1alpha1.ProtocolTCP, policyv1alpha1.ProtocolGRPC)...)
		if len(b.TLS.SNIHosts) > 0 && b.Port.Protocol != policyv1alpha1.ProtocolHTTPS {
			errs = append(errs, field.Invalid(p.Child("tls", "sniHosts"), b.TLS.SNIHosts, "SNI hosts need protocol https"))
		}
		for j, h := range b.TLS.SNIHosts {
			if err := ServerName(h); err != nil {
				errs = append(errs, field.Invalid(p.Child("tls", "sniHosts").Index(j), h, err.Error()))
			}
		}
	}
	for i, s := range ib.Spec.Sources {
		p := spec.Child("sources").Index(i)
		switch s.Kind {
		case policyv1alpha1.KindIPRange:
			errs = append(errs, cidr(p.Child("name"), s.Name)...)
		case policyv1alpha1.KindService:
			if s.Namespace == "" {
				errs = append(errs, field.Required(p.Child("namespace"), "a Service source needs the namespace of the ingress controller's Service"))
			}
		case policyv1alpha1.KindAuthenticatedPrincipal:
			if err := lowerDNSName(s.Name); err != nil {
				errs = append(errs, field.Invalid(p.Child("name"), s.Name, "must be a principal such as ingress-nginx.ingress-nginx.cluster.local: "+err.Error()))
			}
		default:
			errs = append(errs, field.NotSupported(p.Child("kind"), s.Kind,
				[]string{policyv1alpha1.KindService, policyv1alpha1.KindAuthenticatedPrincipal, policyv1alpha1.KindIPRange}))
		}
	}
	for i, m := range ib.Spec.Matches {
		errs = append(errs, oneOf(spec.Child("matches").Index(i).Child("kind"), m.Kind, "HTTPRouteGroup")...)
	}
	return errs
}

// Egress checks each source (a service account with its namespace), host
// (EgressHost), IP range (a CIDR), port (a number, and http, https, tcp or
// tcp-server-first in lower case; http only with hosts or IP ranges to match
// by) and match (an HTTPRouteGroup or an UpstreamTrafficSetting). A policy
// without hosts or IP ranges is valid: as in OSM, its tcp and https ports
// admit any destination. The catalog skips a source, host, IP range or port
// at fault, and the Egress for any other fault: a match it left out would
// allow more.
func Egress(eg *policyv1alpha1.Egress) field.ErrorList {
	var errs field.ErrorList
	for i, s := range eg.Spec.Sources {
		errs = append(errs, sourceAccount(spec.Child("sources").Index(i), s.Kind, s.Namespace)...)
	}
	for i, h := range eg.Spec.Hosts {
		if err := EgressHost(h); err != nil {
			errs = append(errs, field.Invalid(spec.Child("hosts").Index(i), h, err.Error()))
		}
	}
	for i, a := range eg.Spec.IPAddresses {
		errs = append(errs, cidr(spec.Child("ipAddresses").Index(i), a)...)
	}
	for i, port := range eg.Spec.Ports {
		p := spec.Child("ports").Index(i)
		errs = append(errs, portNumber(p.Child("number"), port.Number)...)
		errs = append(errs, oneOf(p.Child("protocol"), port.Protocol,
			policyv1alpha1.ProtocolHTTP, policyv1alpha1.ProtocolHTTPS, policyv1alpha1.ProtocolTCP, policyv1alpha1.ProtocolTCPServerFirst)...)
		if port.Protocol == policyv1alpha1.ProtocolHTTP && len(eg.Spec.Hosts) == 0 && len(eg.Spec.IPAddresses) == 0 {
			errs = append(errs, field.Invalid(p.Child("protocol"), port.Protocol,
				"an http port is matched by host: name spec.hosts or spec.ipAddresses (a tcp port admits any destination)"))
		}
	}
	for i, m := range eg.Spec.Matches {
		errs = append(errs, oneOf(spec.Child("matches").Index(i).Child("kind"), m.Kind, "HTTPRouteGroup", "UpstreamTrafficSetting")...)
	}
	return errs
}
