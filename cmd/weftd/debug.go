package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/xds"
)

// registerDebug serves:
//
//	/debug/proxies                          the connected proxies
//	/debug/config_dump?identity=<ns>/<sa>   what the server last sent a connected proxy
//	                                        of that identity, as Envoy's /config_dump
//	                                        (secrets by name only); 404 when none is
//	                                        connected
//	/debug/problems                         the policies the catalog skipped, and why,
//	                                        and the proxies whose new configuration
//	                                        failed validation
func registerDebug(mux *http.ServeMux, server *xds.Server, mesh *xds.Mesh) {
	mux.HandleFunc("/debug/proxies", func(w http.ResponseWriter, _ *http.Request) {
		type proxy struct{ ID, Kind, Namespace, ServiceAccount string }
		var out []proxy
		for _, p := range server.ConnectedProxies() {
			out = append(out, proxy{p.ID, string(p.Kind), p.Identity.Namespace, p.Identity.ServiceAccount})
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("/debug/config_dump", func(w http.ResponseWriter, r *http.Request) {
		ns, sa, ok := strings.Cut(r.URL.Query().Get("identity"), "/")
		if !ok || ns == "" || sa == "" {
			http.Error(w, "name the proxy's identity: ?identity=<namespace>/<serviceaccount>", http.StatusBadRequest)
			return
		}
		// What the server last sent, never generated here: a request costs
		// a lookup and a marshalling, whoever asks and however often.
		id := identity.Identity{Namespace: ns, ServiceAccount: sa}
		res, ok := server.IdentityResources(id)
		if !ok {
			http.Error(w, fmt.Sprintf("no proxy of identity %s is connected: the dump shows what the server last sent to a connected proxy", id), http.StatusNotFound)
			return
		}
		dump, err := envoy.ConfigDumpJSON(xds.EnvoyResources(res), envoy.DumpOptions{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(dump)
	})
	mux.HandleFunc("/debug/problems", func(w http.ResponseWriter, _ *http.Request) {
		model := mesh.Model()
		if model == nil {
			http.Error(w, "no mesh model yet", http.StatusServiceUnavailable)
			return
		}
		var out []string
		for _, p := range model.Problems {
			out = append(out, p.String())
		}
		for _, c := range server.InvalidConfigs() {
			keeps := "it keeps its last good configuration"
			if !c.Serving {
				keeps = "it has no configuration yet"
			}
			out = append(out, fmt.Sprintf("proxy %s: its new configuration fails validation since %s (%s): %s",
				c.Proxy, c.Since.UTC().Format(time.RFC3339), keeps, c.Error))
		}
		writeJSON(w, out)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
