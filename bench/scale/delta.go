package main

import (
	"context"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/anypb"
)

// runDelta is run's incremental flavour: clusters and listeners as
// wildcards, the rest subscribed and unsubscribed by name.
func (f *fleet) runDelta(ctx context.Context, p *proxy, client discovery.AggregatedDiscoveryServiceClient, node *core.Node) error {
	stream, err := client.DeltaAggregatedResources(ctx)
	if err != nil {
		return err
	}
	return pump(p, stream, &discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: resource.ClusterType},
		func(resp *discovery.DeltaDiscoveryResponse) []*discovery.DeltaDiscoveryRequest {
			return f.deltaResponse(p, resp)
		})
}

func (f *fleet) deltaResponse(p *proxy, resp *discovery.DeltaDiscoveryResponse) []*discovery.DeltaDiscoveryRequest {
	typ := resp.GetTypeUrl()
	anys := make([]*anypb.Any, 0, len(resp.GetResources()))
	for _, r := range resp.GetResources() {
		anys = append(anys, r.GetResource())
	}
	items, err := decodeAll(typ, anys)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		f.nacks.Add(1)
		return []*discovery.DeltaDiscoveryRequest{{TypeUrl: typ, ResponseNonce: resp.GetNonce(),
			ErrorDetail: &status.Status{Code: int32(codes.InvalidArgument), Message: err.Error()}}}
	}
	p.apply(typ, items)
	for _, name := range resp.GetRemovedResources() {
		delete(p.res[typ], name)
		delete(p.refs[typ], name)
	}
	var out []*discovery.DeltaDiscoveryRequest
	for _, s := range p.resubscribe(typ) {
		out = append(out, &discovery.DeltaDiscoveryRequest{TypeUrl: s.typ, ResourceNamesSubscribe: s.added, ResourceNamesUnsubscribe: s.remove})
	}
	out = append(out, &discovery.DeltaDiscoveryRequest{TypeUrl: typ, ResponseNonce: resp.GetNonce()})
	if typ == resource.ClusterType && !p.listenersAsked {
		p.listenersAsked = true
		out = append(out, &discovery.DeltaDiscoveryRequest{TypeUrl: resource.ListenerType})
	}
	f.evaluate(p, typ, items)
	return out
}
