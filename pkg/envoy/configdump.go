package envoy

import (
	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// redacted replaces secret material in a dump, as Envoy's admin endpoint does.
const redacted = "[redacted]"

// DumpOptions add to a config dump what Generate does not produce.
type DumpOptions struct {
	// Version is the version_info every dynamic resource is shown with.
	Version string
	// Bootstrap, when set, is shown first, as Envoy shows its bootstrap.
	Bootstrap *bootstrapv3.Bootstrap
	// Secrets are the served SDS secrets; private keys are redacted. A name in
	// Resources.Secrets without a secret here is shown by name only.
	Secrets []*tlsv3.Secret
}

// ConfigDump shows resources as Envoy's /config_dump shows what it received:
// an admin.v3.ConfigDump of bootstrap, clusters, endpoints, listeners, routes
// and secrets, every resource as dynamic and active. It holds no time stamps.
func ConfigDump(r *Resources, o DumpOptions) (*adminv3.ConfigDump, error) {
	d := &dumper{}
	var configs []proto.Message
	if o.Bootstrap != nil {
		configs = append(configs, &adminv3.BootstrapConfigDump{Bootstrap: o.Bootstrap})
	}
	clusters := &adminv3.ClustersConfigDump{VersionInfo: o.Version}
	for _, c := range r.Clusters {
		clusters.DynamicActiveClusters = append(clusters.DynamicActiveClusters,
			&adminv3.ClustersConfigDump_DynamicCluster{VersionInfo: o.Version, Cluster: d.any(c)})
	}
	endpoints := &adminv3.EndpointsConfigDump{}
	for _, e := range r.Endpoints {
		endpoints.DynamicEndpointConfigs = append(endpoints.DynamicEndpointConfigs,
			&adminv3.EndpointsConfigDump_DynamicEndpointConfig{VersionInfo: o.Version, EndpointConfig: d.any(e)})
	}
	listeners := &adminv3.ListenersConfigDump{VersionInfo: o.Version}
	for _, l := range r.Listeners {
		listeners.DynamicListeners = append(listeners.DynamicListeners, &adminv3.ListenersConfigDump_DynamicListener{
			Name:        l.GetName(),
			ActiveState: &adminv3.ListenersConfigDump_DynamicListenerState{VersionInfo: o.Version, Listener: d.any(l)},
		})
	}
	routes := &adminv3.RoutesConfigDump{}
	for _, rc := range r.Routes {
		routes.DynamicRouteConfigs = append(routes.DynamicRouteConfigs,
			&adminv3.RoutesConfigDump_DynamicRouteConfig{VersionInfo: o.Version, RouteConfig: d.any(rc)})
	}
	served := map[string]*tlsv3.Secret{}
	for _, s := range o.Secrets {
		served[s.GetName()] = s
	}
	secrets := &adminv3.SecretsConfigDump{}
	for _, name := range r.Secrets {
		s := served[name]
		if s == nil {
			s = &tlsv3.Secret{Name: name}
		}
		secrets.DynamicActiveSecrets = append(secrets.DynamicActiveSecrets,
			&adminv3.SecretsConfigDump_DynamicSecret{Name: name, VersionInfo: o.Version, Secret: d.any(redact(s))})
	}
	configs = append(configs, clusters, endpoints, listeners, routes, secrets)
	dump := &adminv3.ConfigDump{}
	for _, c := range configs {
		dump.Configs = append(dump.Configs, d.any(c))
	}
	if d.err != nil {
		return nil, d.err
	}
	return dump, nil
}

// ConfigDumpJSON is ConfigDump as indented JSON.
func ConfigDumpJSON(r *Resources, o DumpOptions) ([]byte, error) {
	d, err := ConfigDump(r, o)
	if err != nil {
		return nil, err
	}
	return MarshalJSON(d)
}

// redact copies a secret with its private key (and any generic secret)
// replaced by "[redacted]"; certificates and roots are public and kept.
func redact(s *tlsv3.Secret) *tlsv3.Secret {
	s = proto.Clone(s).(*tlsv3.Secret)
	hidden := &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: redacted}}
	switch t := s.Type.(type) {
	case *tlsv3.Secret_TlsCertificate:
		if t.TlsCertificate.PrivateKey != nil {
			t.TlsCertificate.PrivateKey = hidden
		}
		if t.TlsCertificate.Password != nil {
			t.TlsCertificate.Password = hidden
		}
	case *tlsv3.Secret_GenericSecret:
		t.GenericSecret.Secret = hidden
	case *tlsv3.Secret_SessionTicketKeys:
		t.SessionTicketKeys.Keys = []*corev3.DataSource{hidden}
	}
	return s
}

type dumper struct{ err error }

func (d *dumper) any(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil && d.err == nil {
		d.err = err
	}
	return a
}
