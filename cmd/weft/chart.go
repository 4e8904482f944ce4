package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/cli/values"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/manifests"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/version"
)

// chartFlags are the flags that choose the chart's values, as Helm's.
type chartFlags struct {
	set    []string
	files  []string
	dryRun bool
}

func (f *chartFlags) add(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.set, "set", nil, "set a chart value (key=value; repeat, or separate with commas); OSM's osm.* keys are translated")
	fs.StringArrayVarP(&f.files, "values", "f", nil, "a YAML file of chart values (repeatable); --set wins over it")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the manifests, CRDs included, instead of applying them; the cluster is not contacted")
}

// userValues are the values the user gave, files first then --set, with
// OSM's keys translated to the chart's.
func (f *chartFlags) userValues() (map[string]any, error) {
	vals, err := (&values.Options{ValueFiles: f.files, Values: f.set}).MergeValues(nil)
	if err != nil {
		return nil, fmt.Errorf("reading chart values: %w", err)
	}
	return translateOSMValues(vals)
}

// osmValueKeys map the keys of OSM's chart (under osm.) that mean something
// here to the chart's; a key that maps to "" is refused with the reason.
var osmValueKeys = map[string]string{
	"enablePermissiveTrafficPolicy":                   "meshConfig.enablePermissiveTrafficPolicyMode",
	"enableEgress":                                    "meshConfig.enableEgress",
	"sidecarImage":                                    "meshConfig.sidecarImage",
	"envoyLogLevel":                                   "meshConfig.envoyLogLevel",
	"controllerLogLevel":                              "meshConfig.controllerLogLevel",
	"maxDataPlaneConnections":                         "meshConfig.maxDataPlaneConnections",
	"configResyncInterval":                            "meshConfig.configResyncInterval",
	"enablePrivilegedInitContainer":                   "meshConfig.enablePrivilegedInitContainer",
	"localProxyMode":                                  "meshConfig.localProxyMode",
	"outboundIPRangeExclusionList":                    "meshConfig.outboundIPRangeExclusionList",
	"outboundIPRangeInclusionList":                    "meshConfig.outboundIPRangeInclusionList",
	"outboundPortExclusionList":                       "meshConfig.outboundPortExclusionList",
	"inboundPortExclusionList":                        "meshConfig.inboundPortExclusionList",
	"networkInterfaceExclusionList":                   "meshConfig.networkInterfaceExclusionList",
	"enableDebugServer":                               "meshConfig.enableDebugServer",
	"tracing.enable":                                  "meshConfig.tracing.enable",
	"tracing.address":                                 "meshConfig.tracing.address",
	"tracing.port":                                    "meshConfig.tracing.port",
	"tracing.endpoint":                                "meshConfig.tracing.endpoint",
	"featureFlags.enableWASMStats":                    "meshConfig.featureFlags.enableWASMStats",
	"featureFlags.enableEgressPolicy":                 "meshConfig.featureFlags.enableEgressPolicy",
	"featureFlags.enableIngressBackendPolicy":         "meshConfig.featureFlags.enableIngressBackendPolicy",
	"featureFlags.enableRetryPolicy":                  "meshConfig.featureFlags.enableRetryPolicy",
	"featureFlags.enableSnapshotCacheMode":            "meshConfig.featureFlags.enableSnapshotCacheMode",
	"featureFlags.enableAsyncProxyServiceMapping":     "meshConfig.featureFlags.enableAsyncProxyServiceMapping",
	"featureFlags.enableEnvoyActiveHealthChecks":      "meshConfig.featureFlags.enableEnvoyActiveHealthChecks",
	"image.registry":                                  "image.registry",
	"image.tag":                                       "image.tag",
	"image.pullPolicy":                                "image.pullPolicy",
	"imagePullSecrets":                                "imagePullSecrets",
	"osmController.replicaCount":                      "replicaCount",
	"osmController.resource":                          "resources",
	"osmController.podDisruptionBudget.enabled":       "podDisruptionBudget.enabled",
	"osmController.podDisruptionBudget.minAvailable":  "podDisruptionBudget.minAvailable",
	"certificateProvider.kind":                        "certificateProvider.kind",
	"certificateProvider.serviceCertValidityDuration": "certificateProvider.serviceCertValidityDuration",
	"certificateProvider.certKeyBitSize":              "certificateProvider.certKeyBitSize",
	"certmanager.issuerName":                          "certificateProvider.certmanager.issuerName",
	"certmanager.issuerKind":                          "certificateProvider.certmanager.issuerKind",
	"certmanager.issuerGroup":                         "certificateProvider.certmanager.issuerGroup",
	"enforceSingleMesh":                               "enforceSingleMesh",
	"webhookFailurePolicy":                            "webhook.failurePolicy",
	"meshName":                                        "",
}

// translateOSMValues moves the osm.* values (OSM's chart) to the chart's
// keys. A key the chart has no counterpart for is an error naming it: a value
// the user set is never dropped.
func translateOSMValues(vals map[string]any) (map[string]any, error) {
	osm, ok := vals["osm"].(map[string]any)
	if !ok {
		if _, present := vals["osm"]; present {
			return nil, fmt.Errorf("chart value osm: OSM's values are a map (osm.<key>=...)")
		}
		return vals, nil
	}
	delete(vals, "osm")
	var refused []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			key := prefix + k
			target, known := osmValueKeys[key]
			if sub, isMap := m[k].(map[string]any); isMap && !known {
				walk(key+".", sub)
				continue
			}
			switch {
			case key == "meshName":
				refused = append(refused, "osm.meshName (use --mesh-name)")
			case !known:
				refused = append(refused, "osm."+key)
			default:
				setPath(vals, target, m[k])
			}
		}
	}
	walk("", osm)
	if len(refused) > 0 {
		return nil, fmt.Errorf("OSM chart values with no counterpart here: %s; `weft install --help` and the chart's values.yaml list what can be set",
			strings.Join(refused, ", "))
	}
	return vals, nil
}

// imageTag is the tag of the images this CLI installs unless told
// otherwise: its own version, which `make build images` gives the images it
// builds beside it; "latest" for a development build.
func imageTag() string {
	if version.Version == "" || version.Version == "dev" {
		return "latest"
	}
	return version.Version
}

// defaultImageTag sets image.tag to imageTag unless the user set it: an
// install, or an upgrade, runs the images of the CLI's own version.
func defaultImageTag(vals map[string]any) {
	if image, ok := vals["image"].(map[string]any); ok {
		if _, set := image["tag"]; set {
			return
		}
	}
	setPath(vals, "image.tag", imageTag())
}

// setPath sets m[a][b]... = v for the dotted path "a.b...".
func setPath(m map[string]any, path string, v any) {
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
}

// helmConfiguration is Helm's client for releases in namespace, which stores
// them as Secrets there (as `helm` and OSM's CLI do).
func helmConfiguration(k *kubeFlags, namespace string) (*action.Configuration, error) {
	cfg := new(action.Configuration)
	if err := cfg.Init(k.inNamespace(namespace), namespace, "secret", func(string, ...any) {}); err != nil {
		return nil, fmt.Errorf("connecting Helm to the cluster: %w", err)
	}
	return cfg, nil
}

// chartCRDs are the chart's CRDs. Helm installs a chart's crds/ once and
// never upgrades them, so install and upgrade apply them first, server-side.
func chartCRDs(c *chart.Chart) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, crd := range c.CRDObjects() {
		objs, err := k8s.DecodeYAML(strings.NewReader(string(crd.File.Data)))
		if err != nil {
			return nil, fmt.Errorf("chart CRD %s: %w", crd.Filename, err)
		}
		out = append(out, objs...)
	}
	return out, nil
}

// embeddedCRDs are the CRDs of the embedded chart.
func embeddedCRDs() ([]*unstructured.Unstructured, error) {
	ch, err := loadChart()
	if err != nil {
		return nil, err
	}
	return chartCRDs(ch)
}

// applyCRDs applies the chart's CRDs and waits until the API server serves
// them; it returns the names of those that did not exist before.
func applyCRDs(ctx context.Context, c client.Client, ch *chart.Chart) ([]string, error) {
	crds, err := chartCRDs(ch)
	if err != nil {
		return nil, err
	}
	var names, created []string
	for _, crd := range crds {
		var existing apiextensionsv1.CustomResourceDefinition
		if err := c.Get(ctx, client.ObjectKey{Name: crd.GetName()}, &existing); client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("reading CRD %s: %w", crd.GetName(), err)
		} else if err != nil {
			created = append(created, crd.GetName())
			if sharedCRD(crd) {
				crd = crd.DeepCopy()
				annotations := crd.GetAnnotations()
				if annotations == nil {
					annotations = map[string]string{}
				}
				annotations[annotationInstalledBy] = "weft"
				crd.SetAnnotations(annotations)
			}
		} else if sharedCRD(crd) {
			names = append(names, crd.GetName())
			continue
		} else {
			if err := checkStoredVersions(&existing, crd); err != nil {
				return nil, err
			}
			if err := dropConversionWebhook(ctx, c, &existing); err != nil {
				return nil, err
			}
		}
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(crd), client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
			return created, fmt.Errorf("applying CRD %s: %w", crd.GetName(), err)
		}
		names = append(names, crd.GetName())
	}
	return created, waitForCRDs(ctx, c, names)
}

// sharedCRD: a CRD the chart carries for clusters that have none, but does
// not own: Gateway API's, which other controllers install and upgrade too.
// An existing one is left as it is; one weft install created carries
// annotationInstalledBy, and only such a one is deleted by an uninstall.
func sharedCRD(crd *unstructured.Unstructured) bool {
	return strings.HasSuffix(crd.GetName(), ".gateway.networking.k8s.io")
}

const annotationInstalledBy = "weft.io/installed-by"

// checkStoredVersions refuses to replace a CRD while etcd may still hold
// objects in a version the new one does not serve (an older OSM's, such as
// MeshConfig v1alpha1): the API server would refuse it too, less clearly.
func checkStoredVersions(existing *apiextensionsv1.CustomResourceDefinition, crd *unstructured.Unstructured) error {
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	served := map[string]bool{}
	var storage string
	for _, v := range versions {
		m, _ := v.(map[string]any)
		name, _ := m["name"].(string)
		served[name] = true
		if m["storage"] == true {
			storage = name
		}
	}
	for _, stored := range existing.Status.StoredVersions {
		if !served[stored] {
			return fmt.Errorf("CRD %s: status.storedVersions lists %s, which this chart does not serve: objects may still be stored in it. "+
				"Rewrite them in %s (kubectl get %s -A -o json | kubectl replace -f -), then drop it: "+
				`kubectl patch crd %s --subresource=status --type=merge -p '{"status":{"storedVersions":["%s"]}}'`,
				existing.Name, stored, storage, existing.Name, existing.Name, storage)
		}
	}
	return nil
}

// dropConversionWebhook removes a conversion webhook from a CRD. OSM's
// bootstrap patched its CRDs to convert through osm-bootstrap, which is gone
// once OSM is: left in place, every read of a policy in another version
// fails. Weft's CRDs serve one version each and need no conversion.
func dropConversionWebhook(ctx context.Context, c client.Client, crd *apiextensionsv1.CustomResourceDefinition) error {
	if crd.Spec.Conversion == nil || crd.Spec.Conversion.Strategy != apiextensionsv1.WebhookConverter {
		return nil
	}
	patch := []byte(`{"spec":{"conversion":{"strategy":"None","webhook":null}}}`)
	if err := c.Patch(ctx, crd, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("removing the conversion webhook of CRD %s: %w", crd.Name, err)
	}
	return nil
}

// waitForCRDs waits until the API server serves every CRD named.
func waitForCRDs(ctx context.Context, c client.Client, names []string) error {
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, name := range names {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := c.Get(ctx, client.ObjectKey{Name: name}, &crd); err != nil {
				return false, nil
			}
			established := false
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					established = true
				}
			}
			if !established {
				return false, nil
			}
		}
		return true, nil
	})
}

// loadChart is the embedded chart.
func loadChart() (*chart.Chart, error) {
	c, err := manifests.Chart()
	if err != nil {
		return nil, fmt.Errorf("loading the embedded chart: %w", err)
	}
	return c, nil
}
