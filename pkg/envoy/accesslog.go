package envoy

import (
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// accessLogName is Envoy's stdout access logger.
const accessLogName = "envoy.access_loggers.stdout"

// accessLogFields are what each line of the access log holds, as JSON: the
// request (HTTP fields are "-" for TCP), the outcome and the peers, so that a
// log pipeline built for OSM's sidecars keeps its keys.
var accessLogFields = map[string]string{
	"start_time":            "%START_TIME%",
	"method":                "%REQ(:METHOD)%",
	"path":                  "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
	"protocol":              "%PROTOCOL%",
	"authority":             "%REQ(:AUTHORITY)%",
	"response_code":         "%RESPONSE_CODE%",
	"response_code_details": "%RESPONSE_CODE_DETAILS%",
	"response_flags":        "%RESPONSE_FLAGS%",
	"bytes_received":        "%BYTES_RECEIVED%",
	"bytes_sent":            "%BYTES_SENT%",
	"duration":              "%DURATION%",
	"time_to_first_byte":    "%RESPONSE_DURATION%",
	"upstream_cluster":      "%UPSTREAM_CLUSTER%",
	"upstream_host":         "%UPSTREAM_HOST%",
	"upstream_service_time": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
	"downstream_remote":     "%DOWNSTREAM_REMOTE_ADDRESS%",
	"downstream_peer":       "%DOWNSTREAM_PEER_URI_SAN%",
	"requested_server_name": "%REQUESTED_SERVER_NAME%",
	"x_forwarded_for":       "%REQ(X-FORWARDED-FOR)%",
	"user_agent":            "%REQ(USER-AGENT)%",
	"request_id":            "%REQ(X-REQUEST-ID)%",
}

// accessLog logs each request (HTTP) or connection (TCP) of mesh traffic to
// Envoy's stdout as one JSON line, as OSM's sidecars did: `kubectl logs
// <pod> -c envoy` shows who called whom and how it ended. The Prometheus and
// health-probe listeners log nothing, to keep scrapes and probes out.
func (g *gen) accessLog() []*accesslogv3.AccessLog {
	fields := make(map[string]*structpb.Value, len(accessLogFields))
	for k, v := range accessLogFields {
		fields[k] = structpb.NewStringValue(v)
	}
	stdout := &streamv3.StdoutAccessLog{AccessLogFormat: &streamv3.StdoutAccessLog_LogFormat{LogFormat: &corev3.SubstitutionFormatString{
		Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: &structpb.Struct{Fields: fields}},
	}}}
	return []*accesslogv3.AccessLog{{Name: accessLogName, ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: g.any(stdout)}}}
}
