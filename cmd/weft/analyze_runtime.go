package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/weft-mesh/weft/catalog"
)

// weftd's runtime status, which analyze adds when reading a cluster: weftd's
// Service, its port serving /healthz and /metrics, and the path.
const (
	weftdService     = "weftd"
	weftdStatusPort  = "9091"
	proxyStatusPath  = "/debug/proxy-status"
	certificateAhead = 24 * time.Hour
)

// fetchProxyStatus reads weftd's proxy status through the API server's
// service proxy.
func fetchProxyStatus(ctx context.Context, snap *meshSnapshot) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b, err := snap.kube.CoreV1().Services(snap.cfg.Namespace).
		ProxyGet("http", weftdService, weftdStatusPort, proxyStatusPath, nil).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("service %s/%s port %s %s: %w", snap.cfg.Namespace, weftdService, weftdStatusPort, proxyStatusPath, err)
	}
	return b, nil
}

// proxyStatus is what analyze reads of weftd's /debug/proxy-status: each
// connected proxy, the last configuration it refused (NACK) and when its
// certificate expires. Fields it does not know are ignored.
type proxyStatus struct {
	Proxies []struct {
		ID       string `json:"id"`
		Pod      string `json:"pod"` // <namespace>/<name>
		Identity string `json:"identity"`
		NACKs    []struct {
			TypeURL string `json:"typeUrl"`
			Error   string `json:"error"`
		} `json:"nacks"`
		CertificateNotAfter *time.Time `json:"certificateNotAfter"`
	} `json:"proxies"`
}

// runtimeFinding is a problem weftd reports about one proxy.
type runtimeFinding struct {
	Object catalog.ObjectRef
	finding
}

// runtimeFindings turns a fetched proxy status into problems: each NACK is an
// error, a certificate expired an error and one expiring within
// certificateAhead of now a warning (weftd renews well before, so either
// means renewal is failing). It is kept apart from fetching, so that it can be
// tested and fed from any copy of the status.
func runtimeFindings(status []byte, now time.Time) ([]runtimeFinding, error) {
	var s proxyStatus
	if err := json.Unmarshal(status, &s); err != nil {
		return nil, fmt.Errorf("%s is not the proxy status analyze reads: %w", proxyStatusPath, err)
	}
	var out []runtimeFinding
	for _, p := range s.Proxies {
		obj := catalog.ObjectRef{Kind: "Proxy", Name: p.ID}
		if ns, name, ok := strings.Cut(p.Pod, "/"); ok {
			obj = catalog.ObjectRef{Kind: "Pod", Namespace: ns, Name: name}
		}
		for _, n := range p.NACKs {
			out = append(out, runtimeFinding{obj, finding{Field: "proxy " + p.ID, Severity: "error",
				Reason: fmt.Sprintf("the proxy refused (NACK) %s: %s", n.TypeURL, n.Error)}})
		}
		if na := p.CertificateNotAfter; na != nil {
			switch left := na.Sub(now); {
			case left <= 0:
				out = append(out, runtimeFinding{obj, finding{Field: "proxy " + p.ID, Severity: "error",
					Reason: fmt.Sprintf("its certificate expired at %s", na.UTC().Format(time.RFC3339))}})
			case left < certificateAhead:
				out = append(out, runtimeFinding{obj, finding{Field: "proxy " + p.ID, Severity: "warning",
					Reason: fmt.Sprintf("its certificate expires at %s, in %s", na.UTC().Format(time.RFC3339), left.Round(time.Minute))}})
			}
		}
	}
	return out, nil
}

func (a *analysis) addRuntime(fs []runtimeFinding) {
	for _, f := range fs {
		a.add(f.Object, f.finding)
	}
}
