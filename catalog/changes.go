package catalog

import (
	"encoding/binary"
	"encoding/json"
	"hash/maphash"
	"slices"

	"github.com/weft-mesh/weft/pkg/identity"
)

// IdentityHash is a hash of everything the proxies of one identity depend on:
// the mesh settings, the Services it serves (with their endpoints and
// settings), who may reach them, the Services it may reach (with their
// endpoints, splits, retries and settings), and its ingress and egress rules. Two
// models give an identity the same hash when its proxies' configuration would be
// the same. Hashes are comparable between models built by the same process
// (they are seeded per process), never across processes.
func (m *Model) IdentityHash(id identity.Identity) (uint64, bool) {
	h, ok := m.hashes[id]
	return h, ok
}

// ChangedIdentities lists, sorted, the identities whose proxies need new
// configuration since prev: those whose hash changed, and those added or
// removed. A nil prev changes every identity.
func (m *Model) ChangedIdentities(prev *Model) []identity.Identity {
	var out []identity.Identity
	for id, h := range m.hashes {
		if prev == nil {
			out = append(out, id)
			continue
		}
		if old, ok := prev.hashes[id]; !ok || old != h {
			out = append(out, id)
		}
	}
	if prev != nil {
		for id := range prev.hashes {
			if _, ok := m.hashes[id]; !ok {
				out = append(out, id)
			}
		}
	}
	slices.SortFunc(out, identity.Compare)
	return out
}

// hashIdentities hashes each identity's view by hand, field by field: far
// cheaper than hashing a generic encoding of the view, and a hand-kept copy of
// the model. Two tests keep it from drifting: TestHashCoversEveryField
// changes every field of the model in turn and requires the hash to change,
// and FuzzChangeDetection (pkg/envoy) requires an identity whose hash stayed
// the same to get the same resources from the generator. A new model field
// goes into the hasher, or into notHashed when the generator never reads it.
// UnknownIdentitiesChanged reports whether a proxy whose identity is in
// neither prev nor m needs new configuration. Such a proxy (its pod not yet in
// the model, or serving nothing) is configured from the mesh settings alone,
// so it changes when they do. A nil prev changes it.
func (m *Model) UnknownIdentitiesChanged(prev *Model) bool {
	return prev == nil || prev.settingsHash != m.settingsHash
}

// hashIdentities returns the hash of the mesh settings and of each identity.
func hashIdentities(m *Model) (uint64, map[identity.Identity]uint64) {
	w := newHasher()
	w.json(m.Settings)
	settings := w.sum()

	services := make(map[*Service]uint64, len(m.Services))
	for _, s := range m.Services {
		w.reset()
		w.service(s)
		services[s] = w.sum()
	}
	out := make(map[identity.Identity]uint64, len(m.Identities))
	for _, v := range m.Identities {
		w.reset()
		w.u64(settings)
		w.str(v.Identity.Namespace, v.Identity.ServiceAccount)
		w.bool(v.EgressPassthrough)
		w.n(len(v.Services))
		for _, ref := range v.Services {
			w.u64(services[m.services[ref]])
		}
		w.n(len(v.Inbound))
		for _, in := range v.Inbound {
			w.inbound(in)
		}
		w.n(len(v.Outbound))
		for _, o := range v.Outbound {
			w.u64(services[o.Service])
			w.n(len(o.Backends))
			for _, be := range o.Backends {
				w.u64(services[be.Service])
				w.u64(uint64(be.Weight))
			}
			// The route backends' endpoints and ports, which the routes
			// only name.
			for _, r := range o.Service.Routes {
				for _, be := range r.Backends {
					if svc := m.services[be.Service]; svc != nil {
						w.u64(services[svc])
					}
				}
			}
			w.retry(o.Retry)
		}
		w.n(len(v.Ingress))
		for _, r := range v.Ingress {
			w.json(r)
		}
		w.n(len(v.Egress))
		for _, r := range v.Egress {
			w.json(r)
		}
		w.json(v.HealthProbes)
		out[v.Identity] = w.sum()
	}
	// A gateway's proxies read its listeners and routes, and the Services
	// those reach; its service account may not exist yet.
	for _, g := range m.Gateways {
		prev := out[g.Identity]
		w.reset()
		w.u64(settings)
		w.u64(prev)
		w.json(g)
		for _, l := range g.Listeners {
			for _, r := range l.Routes {
				for _, be := range r.Backends {
					if svc := m.services[be.Service]; svc != nil {
						w.u64(services[svc])
					}
				}
			}
		}
		out[g.Identity] = w.sum()
	}
	return settings, out
}

// hasher collects an identity's bytes in a buffer and hashes them at once.
type hasher struct {
	buf []byte
}

// seed is fixed for the process, so that models built by it compare.
var seed = maphash.MakeSeed()

func newHasher() *hasher { return &hasher{} }

func (w *hasher) reset()      { w.buf = w.buf[:0] }
func (w *hasher) sum() uint64 { return maphash.Bytes(seed, w.buf) }

func (w *hasher) u64(v uint64) { w.buf = binary.LittleEndian.AppendUint64(w.buf, v) }

func (w *hasher) n(v int) { w.u64(uint64(v)) }

func (w *hasher) bool(v bool) {
	if v {
		w.u64(1)
	} else {
		w.u64(0)
	}
}

// str writes strings with their lengths, so that ("ab","c") and ("a","bc") differ.
func (w *hasher) str(ss ...string) {
	for _, s := range ss {
		w.n(len(s))
		w.buf = append(w.buf, s...)
	}
}

// strs writes a list with its length, so that lists followed by more
// fields cannot be confused.
func (w *hasher) strs(ss []string) {
	w.n(len(ss))
	w.str(ss...)
}

func (w *hasher) ref(o ObjectRef) { w.str(o.Kind, o.Namespace, o.Name) }

// json hashes a rarely present value through its JSON form.
func (w *hasher) json(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		w.str(err.Error())
		return
	}
	w.buf = append(w.buf, data...)
}

func (w *hasher) service(s *Service) {
	w.str(s.Namespace, s.Name)
	w.bool(s.Headless)
	w.strs(s.ClusterIPs)
	w.n(len(s.Ports))
	for _, p := range s.Ports {
		w.port(p)
	}
	w.n(len(s.Endpoints))
	for _, e := range s.Endpoints {
		w.str(e.IP, e.PortName, e.PodName, e.Identity.Namespace, e.Identity.ServiceAccount, e.Hostname, e.DNSName, e.NodeName, e.Zone)
		w.u64(uint64(e.Port))
		w.bool(e.Ready)
		w.bool(e.Serving)
		w.bool(e.Terminating)
	}
	w.n(len(s.Identities))
	for _, id := range s.Identities {
		w.str(id.Namespace, id.ServiceAccount)
	}
	if s.Split != nil {
		w.ref(s.Split.Policy)
		w.n(len(s.Split.Backends))
		for _, be := range s.Split.Backends {
			w.str(be.Service.Namespace, be.Service.Name)
			w.u64(uint64(be.Weight))
		}
	} else {
		w.n(-1)
	}
	w.n(len(s.Routes))
	for _, r := range s.Routes {
		w.json(r)
	}
	w.uts(s.UpstreamTrafficSetting)
}

func (w *hasher) uts(u *UpstreamTrafficSetting) {
	if u != nil {
		w.json(u)
	} else {
		w.n(-1)
	}
}

func (w *hasher) port(p ServicePort) {
	w.str(p.Name, p.TargetPortName, string(p.Protocol))
	w.u64(uint64(p.Port))
	w.u64(uint64(p.TargetPort))
}

func (w *hasher) inbound(in InboundPort) {
	w.str(in.Service.Namespace, in.Service.Name)
	w.port(in.Port)
	w.bool(in.AllowAll)
	// The Service's, hashed with it already; again in case they part.
	w.uts(in.UpstreamTrafficSetting)
	w.n(len(in.Rules))
	for _, r := range in.Rules {
		w.ref(r.Policy)
		w.bool(r.AllTraffic)
		w.n(len(r.Sources))
		for _, id := range r.Sources {
			w.str(id.Namespace, id.ServiceAccount)
		}
		w.n(len(r.HTTPMatches))
		for _, m := range r.HTTPMatches {
			w.ref(m.RouteGroup)
			w.str(m.Name, m.PathRegex)
			w.strs(m.Methods)
			w.n(len(m.Headers))
			for _, h := range m.Headers {
				w.str(h.Name, h.ValueRegex)
			}
		}
	}
}

func (w *hasher) retry(r *RetryPolicy) {
	if r == nil {
		w.n(-1)
		return
	}
	w.ref(r.Policy)
	w.str(r.RetryOn)
	w.u64(uint64(r.PerTryTimeout))
	w.u64(uint64(r.BackoffBaseInterval))
	if r.NumRetries != nil {
		w.u64(uint64(*r.NumRetries))
	} else {
		w.n(-1)
	}
}
