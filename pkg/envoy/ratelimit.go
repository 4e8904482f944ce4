package envoy

import (
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	httplrlv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	netlrlv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/local_ratelimit/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-mesh/weft/catalog"
)

// httpRateLimit is a local rate limit on requests (an UpstreamTrafficSetting's
// rateLimit.local.http or a route's), or nil when there is none.
func (g *gen) httpRateLimit(spec *catalog.HTTPRateLimit, statPrefix string) *httplrlv3.LocalRateLimit {
	if spec == nil || spec.Requests == 0 {
		return nil
	}
	all := &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{Numerator: 100, Denominator: typev3.FractionalPercent_HUNDRED}}
	rl := &httplrlv3.LocalRateLimit{
		StatPrefix:     statPrefix,
		TokenBucket:    tokenBucket(spec.Requests, spec.Burst, spec.FillInterval),
		FilterEnabled:  all,
		FilterEnforced: all,
	}
	if _, ok := typev3.StatusCode_name[int32(spec.ResponseStatusCode)]; ok && spec.ResponseStatusCode != 0 && spec.ResponseStatusCode <= 599 {
		rl.Status = &typev3.HttpStatus{Code: typev3.StatusCode(spec.ResponseStatusCode)}
	}
	for _, h := range spec.ResponseHeadersToAdd {
		hv := &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: h.Name, Value: h.Value}}
		if hv.ValidateAll() == nil {
			rl.ResponseHeadersToAdd = append(rl.ResponseHeadersToAdd, hv)
		}
	}
	return rl
}

// tcpRateLimit is a local rate limit on new connections, or nil.
func tcpRateLimit(uts *catalog.UpstreamTrafficSetting, statPrefix string) *netlrlv3.LocalRateLimit {
	if uts == nil || uts.TCPRateLimit == nil || uts.TCPRateLimit.Connections == 0 {
		return nil
	}
	spec := uts.TCPRateLimit
	return &netlrlv3.LocalRateLimit{StatPrefix: statPrefix, TokenBucket: tokenBucket(spec.Connections, spec.Burst, spec.FillInterval)}
}

// portHTTPRateLimit is the rate limit on all of a port's requests, or nil.
func portHTTPRateLimit(uts *catalog.UpstreamTrafficSetting) *catalog.HTTPRateLimit {
	if uts == nil {
		return nil
	}
	return uts.HTTPRateLimit
}

// hasRouteRateLimits reports whether any path of the setting is rate limited.
func hasRouteRateLimits(uts *catalog.UpstreamTrafficSetting) bool {
	if uts == nil {
		return false
	}
	for _, r := range uts.RouteRateLimits {
		if r.RateLimit.Requests > 0 {
			return true
		}
	}
	return false
}

// tokenBucket admits n per interval, plus burst at once.
func tokenBucket(n, burst uint32, interval time.Duration) *typev3.TokenBucket {
	maxTokens := uint64(n) + uint64(burst)
	if maxTokens > 1<<32-1 {
		maxTokens = 1<<32 - 1
	}
	return &typev3.TokenBucket{
		MaxTokens:     uint32(maxTokens),
		TokensPerFill: wrapperspb.UInt32(n),
		FillInterval:  durationpb.New(interval),
	}
}

// emptyHTTPRateLimit enables the filter for routes that carry their own limit.
func emptyHTTPRateLimit(statPrefix string) *httplrlv3.LocalRateLimit {
	return &httplrlv3.LocalRateLimit{StatPrefix: statPrefix}
}
