// Package bench holds the scale benchmarks: a simulated fleet of proxies on
// real gRPC ADS streams with mTLS against the real xDS server, fed by the real
// catalog and generator. Run them with `make bench`; they are not part of
// `make test`.
package bench
