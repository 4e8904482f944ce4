package catalog_test

import (
	"testing"

	"github.com/weft-mesh/weft/catalog"
)

func TestPortProtocols(t *testing.T) {
	for _, tc := range []struct {
		name, port string
		want       catalog.Protocol
	}{
		{"appProtocol wins over the name", "{name: tcp-x, port: 80, appProtocol: grpc}", catalog.ProtocolGRPC},
		{"an http name prefix is http", "{name: http-web, port: 80}", catalog.ProtocolHTTP},
		{"an http2 name prefix is http2", "{name: http2-web, port: 80}", catalog.ProtocolHTTP2},
		{"a grpc name is grpc", "{name: grpc, port: 80}", catalog.ProtocolGRPC},
		{"a tcp name prefix is tcp", "{name: tcp-db, port: 80}", catalog.ProtocolTCP},
		{"tcp-server-first is not plain tcp", "{name: tcp-server-first-mysql, port: 80}", catalog.ProtocolTCPServerFirst},
		{"appProtocol tcp-server-first", "{name: db, port: 80, appProtocol: tcp-server-first}", catalog.ProtocolTCPServerFirst},
		{"an unknown name defaults to http, as in OSM", "{name: web, port: 80}", catalog.ProtocolHTTP},
		{"a name that only starts like tcp is http", "{name: tcpish, port: 80}", catalog.ProtocolHTTP},
		{"kubernetes.io/h2c is http2", "{name: web, port: 80, appProtocol: kubernetes.io/h2c}", catalog.ProtocolHTTP2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := build(t, `{apiVersion: v1, kind: Service, metadata: {name: s, namespace: a}, spec: {ports: [`+tc.port+`]}}`)
			s := m.Service(svc("a", "s"))
			if s == nil || len(s.Ports) != 1 || s.Ports[0].Protocol != tc.want {
				t.Fatalf("got %+v, want %s", s, tc.want)
			}
		})
	}
}

const headlessDB = `
apiVersion: v1
kind: Service
metadata: {name: db, namespace: data}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: tcp-pg, port: 5432, targetPort: pg}, {name: dns, port: 53, protocol: UDP}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: data}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {serviceAccountName: postgres, containers: [{name: pg, image: postgres}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-abc, namespace: data, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
ports: [{name: tcp-pg, port: 5432, protocol: TCP}]
endpoints:
- addresses: [10.0.0.2]
  hostname: db-1
  conditions: {ready: false}
  targetRef: {kind: Pod, name: db-1, namespace: data}
- addresses: [10.0.0.1]
  hostname: db-0
  targetRef: {kind: Pod, name: db-0, namespace: data}
`

func TestServicesAndEndpoints(t *testing.T) {
	m := build(t, headlessDB)
	s := m.Service(svc("data", "db"))
	if s == nil {
		t.Fatal("no service data/db")
	}
	t.Run("a headless service has no cluster IP and only its TCP ports", func(t *testing.T) {
		if !s.Headless || len(s.ClusterIPs) != 0 || len(s.Ports) != 1 || s.Ports[0].TargetPortName != "pg" || s.Ports[0].Protocol != catalog.ProtocolTCP {
			t.Fatalf("service: %+v", s)
		}
	})
	t.Run("StatefulSet pods are addressable one by one, ready or not", func(t *testing.T) {
		want := []catalog.Endpoint{
			{IP: "10.0.0.1", PortName: "tcp-pg", Port: 5432, Ready: true, Serving: true, PodName: "db-0", Identity: id("data", "postgres"),
				Hostname: "db-0", DNSName: "db-0.db.data.svc.cluster.local"},
			{IP: "10.0.0.2", PortName: "tcp-pg", Port: 5432, PodName: "db-1", Identity: id("data", "postgres"),
				Hostname: "db-1", DNSName: "db-1.db.data.svc.cluster.local"},
		}
		if len(s.Endpoints) != 2 || s.Endpoints[0] != want[0] || s.Endpoints[1] != want[1] {
			t.Fatalf("endpoints:\n got %+v\nwant %+v", s.Endpoints, want)
		}
	})
	t.Run("the pods' service account serves the service", func(t *testing.T) {
		if len(s.Identities) != 1 || s.Identities[0] != id("data", "postgres") {
			t.Fatalf("identities: %v", s.Identities)
		}
		v := m.Identity(id("data", "postgres"))
		if v == nil || len(v.Services) != 1 || len(v.Inbound) != 1 {
			t.Fatalf("view: %+v", v)
		}
	})
	t.Run("services of namespaces outside the mesh are not mesh services", func(t *testing.T) {
		m := build(t, `{apiVersion: v1, kind: Namespace, metadata: {name: other}}`,
			`{apiVersion: v1, kind: Service, metadata: {name: s, namespace: other}, spec: {ports: [{port: 80}]}}`)
		if len(m.Services) != 0 {
			t.Fatalf("services: %+v", m.Services)
		}
	})
}

// TestExternalNameServicesAreSkipped: an ExternalName Service has no address
// to match, so it is left out of the model (no outbound chain can then capture
// its whole port) with a problem; what names it says why it is missing.
func TestExternalNameServicesAreSkipped(t *testing.T) {
	m := build(t, permissive,
		`{apiVersion: v1, kind: Service, metadata: {name: ext, namespace: a}, spec: {type: ExternalName, externalName: api.example.com, ports: [{name: http, port: 80}]}}`,
		`{apiVersion: v1, kind: Service, metadata: {name: web, namespace: a}, spec: {clusterIP: 10.0.0.1, ports: [{name: http, port: 80}]}}`,
		`{apiVersion: split.smi-spec.io/v1alpha2, kind: TrafficSplit, metadata: {name: s, namespace: a}, spec: {service: web, backends: [{service: ext, weight: 1}, {service: web, weight: 1}]}}`)
	if m.Service(svc("a", "ext")) != nil {
		t.Fatal("the ExternalName Service is in the model")
	}
	checkProblems(t, m, []string{
		`Service a/ext: spec.type: an ExternalName Service is not meshed: traffic to api.example.com leaves the mesh through an Egress policy for that host or egress passthrough (traffic.enableEgress); Service skipped`,
		`TrafficSplit a/s: spec.backends[0].service: service a/ext is an ExternalName Service, which is not meshed; backend skipped`,
	})
}
