// Package ca is Weft's certificate authority front: it owns mesh identities
// (service account certificates with their SPIFFE URI), proxy certificates that
// authenticate an xDS stream, the private keys behind them (ECDSA P-256 unless
// MeshConfig asks for RSA), the cache of issued certificates, their renewal
// before expiry, the trust bundle (which may hold several roots during a root
// rotation), and the CA's Prometheus metrics.
//
// The flow:
//
//  1. A caller (the injector, the xDS server) asks the Manager for a
//     certificate: ServiceCertificate(identity) or ProxyCertificate(proxy).
//  2. The Manager returns the cached certificate while it is not yet due for
//     renewal; otherwise it generates a key, writes a CSR and asks its Signer.
//  3. A Signer signs CSRs. Implementations live in subpackages: internalca (a
//     root kept in a Secret) and certmanager (cert-manager CertificateRequests).
//  4. Manager.Run (or RenewDue, driven by an injected clock) renews certificates
//     that are due and follows root changes; every renewal and bundle change is
//     announced to Subscriptions, which never block the CA.
//  5. A proxy certificate kept outside the Manager (the injector's bootstrap
//     Secret) is judged by CheckProxyCertificate with the same rules: trusted,
//     from the CA that signs now, and not yet due.
//
// Certificate lifetimes are at least MinValidity, and ValidateMeshConfig is
// the one rule set for MeshConfig spec.certificate, applied by the CA and by
// the validating webhook alike.
//
// The Kubernetes-facing parts live in subpackages (internalca's Secret store,
// ingressgateway's Secret reconciler). Package ca itself holds no Kubernetes
// client. It must not import the catalog, pkg/envoy or pkg/xds: they consume ca,
// never the reverse.
package ca
