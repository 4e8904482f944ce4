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
	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
)

// httpRateLimit is a local rate limit on requests (an UpstreamTrafficSetting's
// rateLimit.local.http), or nil when it admits nothing countable.
func (g *gen) httpRateLimit(spec *policyv1alpha1.HTTPLocalRateLimitSpec, statPrefix string) *httplrlv3.LocalRateLimit {
	if spec == nil || spec.Requests == 0 {
		return nil
	}
	all := &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{Numerator: 100, Denominator: typev3.FractionalPercent_HUNDRED}}
	rl := &httplrlv3.LocalRateLimit{
		StatPrefix:     statPrefix,
		TokenBucket:    tokenBucket(spec.Requests, spec.Burst, spec.Unit),
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
	if uts == nil || uts.Spec.RateLimit == nil || uts.Spec.RateLimit.Local == nil {
		return nil
	}
	spec := uts.Spec.RateLimit.Local.TCP
	if spec == nil || spec.Connections == 0 {
		return nil
	}
	return &netlrlv3.LocalRateLimit{StatPrefix: statPrefix, TokenBucket: tokenBucket(spec.Connections, spec.Burst, spec.Unit)}
}

// portHTTPRateLimit is the rate limit on all of a port's requests, or nil.
func portHTTPRateLimit(uts *catalog.UpstreamTrafficSetting) *policyv1alpha1.HTTPLocalRateLimitSpec {
	if uts == nil || uts.Spec.RateLimit == nil || uts.Spec.RateLimit.Local == nil {
		return nil
	}
	return uts.Spec.RateLimit.Local.HTTP
}

// hasRouteRateLimits reports whether any path of the setting is rate limited.
func hasRouteRateLimits(uts *catalog.UpstreamTrafficSetting) bool {
	if uts == nil {
		return false
	}
	for _, r := range uts.Spec.HTTPRoutes {
		if r.RateLimit != nil && r.RateLimit.Local != nil && r.RateLimit.Local.Requests > 0 {
			return true
		}
	}
	return false
}

// tokenBucket admits n per unit, plus burst at once.
func tokenBucket(n, burst uint32, unit policyv1alpha1.RateLimitUnit) *typev3.TokenBucket {
	interval := time.Second
	switch unit {
	case "minute":
		interval = time.Minute
	case "hour":
		interval = time.Hour
	}
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
