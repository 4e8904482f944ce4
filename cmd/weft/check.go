package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/pkg/mesh"
)

// A check is one line of `weft check`: a name users can search for, and a
// test that returns nil, a warning, or a failure.
type check struct {
	name string
	run  func(ctx context.Context) error
}

// errWarning marks a check's error as a warning: reported, not failing.
type errWarning struct{ error }

func warn(format string, args ...any) error { return errWarning{fmt.Errorf(format, args...)} }

type checkGroup struct {
	name   string
	checks []check
}

type checkOptions struct {
	kube          kubeFlags
	meshNamespace string
	pre           bool
	// rootWarning: a root expiring sooner is a warning.
	rootWarning time.Duration
	now         func() time.Time
	// proxies, when set, checks weftd's view of the proxies (connected,
	// NACKs); nil skips it.
	proxies func(ctx context.Context, c kubernetes.Interface, namespace string) error
}

func newCheckCommand() *cobra.Command {
	o := checkOptions{now: time.Now, rootWarning: 30 * 24 * time.Hour, proxies: checkProxies}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check that the cluster can run the mesh (--pre) or that the mesh is healthy",
		Long: `check runs, in order, the checks of a cluster about to receive a mesh (--pre) or of an
installed mesh, as "linkerd check" does, and prints one line per check. A failed check
names what is wrong and what to do; the command then exits non-zero. Warnings (a root
expiring within 30 days) do not fail it.

The mesh's checks: the API server is reachable; the CRDs are installed, established and
those of this CLI; weftd's replicas are ready; the webhook configurations' caBundle holds
valid certificates, and the mesh root's (with the internal CA); the root does not expire
soon; weftd answers, and its proxies are connected with no configuration rejected.`,
		Example: `  # Before installing
  weft check --pre

  # The mesh osm in osm-system
  weft check

  # Another mesh
  weft check --mesh-name blue --osm-namespace blue-system`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), cmd.OutOrStdout()) },
	}
	o.kube.add(cmd)
	f := cmd.Flags()
	f.StringVar(&o.meshNamespace, "mesh-namespace", defaultMeshNamespace, "the control plane's namespace")
	f.StringVar(&o.meshNamespace, "osm-namespace", defaultMeshNamespace, "the control plane's namespace (OSM's flag name)")
	f.BoolVar(&o.pre, "pre", false, "check that the cluster can receive a mesh, before installing")
	return cmd
}

func (o *checkOptions) run(ctx context.Context, out io.Writer) error {
	cs, err := o.kube.client()
	if err != nil {
		return err
	}
	c, err := o.kube.objectClient()
	if err != nil {
		return err
	}
	groups := o.clusterChecks(cs)
	if o.pre {
		groups = append(groups, o.preChecks(c, cs)...)
	} else {
		groups = append(groups, o.meshChecks(c, cs)...)
	}
	var failed []string
	for _, g := range groups {
		fmt.Fprintf(out, "%s\n%s\n", g.name, strings.Repeat("-", len(g.name)))
		for _, ch := range g.checks {
			err := ch.run(ctx)
			var w errWarning
			switch {
			case err == nil:
				fmt.Fprintf(out, "√ %s\n", ch.name)
			case errors.As(err, &w):
				fmt.Fprintf(out, "‼ %s\n    %v\n", ch.name, w.error)
			default:
				fmt.Fprintf(out, "× %s\n    %v\n", ch.name, err)
				failed = append(failed, ch.name)
			}
			if err != nil && !errors.As(err, &w) && g.name == "kubernetes-api" {
				// Nothing else can be checked without the API server.
				return fmt.Errorf("check failed: %s", ch.name)
			}
		}
		fmt.Fprintln(out)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d check(s) failed: %s", len(failed), strings.Join(failed, "; "))
	}
	fmt.Fprintln(out, "Status check results are √")
	return nil
}

// minKubernetesMinor is the oldest Kubernetes the chart's objects are
// written for (admissionregistration v1 matchConditions-free, policy/v1
// PodDisruptionBudgets, server-side apply).
const minKubernetesMinor = 25

func (o *checkOptions) clusterChecks(cs kubernetes.Interface) []checkGroup {
	return []checkGroup{{name: "kubernetes-api", checks: []check{
		{"can reach the Kubernetes API", func(context.Context) error {
			_, err := cs.Discovery().ServerVersion()
			return err
		}},
		{fmt.Sprintf("Kubernetes is v1.%d or newer", minKubernetesMinor), func(context.Context) error {
			v, err := cs.Discovery().ServerVersion()
			if err != nil {
				return err
			}
			var minor int
			if _, err := fmt.Sscanf(strings.TrimRight(v.Minor, "+"), "%d", &minor); err != nil {
				return fmt.Errorf("cannot read the server's minor version %q", v.Minor)
			}
			if v.Major != "1" || minor < minKubernetesMinor {
				return fmt.Errorf("the API server is %s; the mesh needs v1.%d or newer", v.GitVersion, minKubernetesMinor)
			}
			return nil
		}},
	}}}
}

func (o *checkOptions) preChecks(c client.Client, cs kubernetes.Interface) []checkGroup {
	can := func(group, resource, verb string) check {
		what := resource
		if group != "" {
			what += "." + group
		}
		return check{"can " + verb + " " + what, func(ctx context.Context) error {
			review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{Group: group, Resource: resource, Verb: verb}}}
			res, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			if !res.Status.Allowed {
				return fmt.Errorf("you may not %s %s: installing needs cluster-admin or equivalent", verb, what)
			}
			return nil
		}}
	}
	return []checkGroup{
		{name: "pre-install", checks: []check{
			can("", "namespaces", "create"),
			can("apiextensions.k8s.io", "customresourcedefinitions", "create"),
			can("rbac.authorization.k8s.io", "clusterroles", "create"),
			can("admissionregistration.k8s.io", "mutatingwebhookconfigurations", "create"),
			can("admissionregistration.k8s.io", "validatingwebhookconfigurations", "create"),
			{"no mesh stands in the way", func(ctx context.Context) error {
				meshes, err := listMeshes(ctx, c)
				if err != nil {
					return err
				}
				_, err = checkMeshes(meshes, o.kube.meshName, o.meshNamespace, false)
				return err
			}},
		}},
	}
}

func (o *checkOptions) meshChecks(c client.Client, cs kubernetes.Interface) []checkGroup {
	ns := o.meshNamespace
	groups := []checkGroup{
		{name: "weft-crds", checks: []check{
			{"CRDs are installed, established and current", func(ctx context.Context) error { return o.checkCRDs(ctx, c) }},
		}},
		{name: "weft-control-plane", checks: []check{
			{"weftd's replicas are ready", func(ctx context.Context) error {
				var d appsv1.Deployment
				if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "weftd"}, &d); err != nil {
					return fmt.Errorf("weftd's Deployment in %s: %w (is the mesh installed there? weft mesh list)", ns, err)
				}
				want := ptrOr(d.Spec.Replicas, 1)
				if d.Status.ReadyReplicas < want || d.Status.UpdatedReplicas < want {
					return fmt.Errorf("%d of %d replicas ready, %d updated: see `kubectl -n %s describe deploy/weftd` and its pods' logs",
						d.Status.ReadyReplicas, want, d.Status.UpdatedReplicas, ns)
				}
				return nil
			}},
			{"the webhook configurations' caBundle is valid", func(ctx context.Context) error { return o.checkWebhookBundles(ctx, c) }},
			{"the mesh root is valid", func(ctx context.Context) error { return o.checkRoot(ctx, c) }},
		}},
	}
	if o.proxies != nil {
		groups = append(groups, checkGroup{name: "weft-proxies", checks: []check{
			{"weftd answers, and its proxies hold their configuration", func(ctx context.Context) error { return o.proxies(ctx, cs, ns) }},
		}})
	}
	return groups
}

// checkProxies reads weftd's proxy status, as `weft proxy status` does:
// weftd must answer, and no proxy may hold a rejected configuration. A
// configuration left unanswered, or no proxy at all, is a warning.
func checkProxies(ctx context.Context, cs kubernetes.Interface, namespace string) error {
	statuses, err := fetchProxyStatus(ctx, cs, namespace, nil, io.Discard)
	if err != nil {
		return err
	}
	var errs, warnings []string
	for _, f := range runtimeFindings(statuses, time.Now()) {
		line := f.Object.String() + ": " + f.Reason
		if f.Severity == "error" {
			errs = append(errs, line)
		} else {
			warnings = append(warnings, line)
		}
	}
	switch {
	case len(errs) > 0:
		return fmt.Errorf("%s (weft proxy status shows every proxy)", strings.Join(errs, "; "))
	case len(warnings) > 0:
		return warn("%s", strings.Join(warnings, "; "))
	case len(statuses) == 0:
		return warn("no proxy is connected to weftd")
	}
	return nil
}

// checkCRDs: every CRD of the chart exists, is established, and serves the
// chart's versions with the same storage version.
func (o *checkOptions) checkCRDs(ctx context.Context, c client.Client) error {
	crds, err := embeddedCRDs()
	if err != nil {
		return err
	}
	var problems []string
	for _, want := range crds {
		var got apiextensionsv1.CustomResourceDefinition
		if err := c.Get(ctx, client.ObjectKey{Name: want.GetName()}, &got); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", want.GetName(), err))
			continue
		}
		established := slices.ContainsFunc(got.Status.Conditions, func(cond apiextensionsv1.CustomResourceDefinitionCondition) bool {
			return cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue
		})
		if !established {
			problems = append(problems, want.GetName()+": not established")
		}
		if sharedCRD(want) {
			continue // another controller's version may be newer
		}
		versions, _, _ := unstructured.NestedSlice(want.Object, "spec", "versions")
		for _, v := range versions {
			m, _ := v.(map[string]any)
			name, _ := m["name"].(string)
			i := slices.IndexFunc(got.Spec.Versions, func(gv apiextensionsv1.CustomResourceDefinitionVersion) bool { return gv.Name == name })
			if i < 0 || !got.Spec.Versions[i].Served || got.Spec.Versions[i].Storage != (m["storage"] == true) {
				problems = append(problems, fmt.Sprintf("%s: version %s is not as this CLI's chart serves it", want.GetName(), name))
			}
		}
		if got.Spec.Conversion != nil && got.Spec.Conversion.Strategy == apiextensionsv1.WebhookConverter {
			problems = append(problems, want.GetName()+": converts through a webhook (OSM's osm-bootstrap?)")
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: run `weft mesh upgrade` (or `weft install`) to apply this CLI's CRDs", strings.Join(problems, "; "))
	}
	return nil
}

// checkWebhookBundles: both webhook configurations exist and every webhook's
// caBundle parses into certificates valid now. weftd writes them; empty means
// it has not (yet).
func (o *checkOptions) checkWebhookBundles(ctx context.Context, c client.Client) error {
	var m admissionregistrationv1.MutatingWebhookConfiguration
	var v admissionregistrationv1.ValidatingWebhookConfiguration
	var bundles []struct {
		name   string
		bundle []byte
	}
	if err := c.Get(ctx, client.ObjectKey{Name: mesh.MutatingWebhookName(o.kube.meshName)}, &m); err != nil {
		return fmt.Errorf("MutatingWebhookConfiguration %s: %w", mesh.MutatingWebhookName(o.kube.meshName), err)
	}
	for _, w := range m.Webhooks {
		bundles = append(bundles, struct {
			name   string
			bundle []byte
		}{m.Name + " " + w.Name, w.ClientConfig.CABundle})
	}
	if err := c.Get(ctx, client.ObjectKey{Name: mesh.ValidatingWebhookName(o.kube.meshName)}, &v); err != nil {
		return fmt.Errorf("ValidatingWebhookConfiguration %s: %w", mesh.ValidatingWebhookName(o.kube.meshName), err)
	}
	for _, w := range v.Webhooks {
		bundles = append(bundles, struct {
			name   string
			bundle []byte
		}{v.Name + " " + w.Name, w.ClientConfig.CABundle})
	}
	for _, b := range bundles {
		certs, err := parseCertificates(b.bundle)
		if err != nil {
			return fmt.Errorf("%s: caBundle: %w (weftd writes it once it runs: see its logs)", b.name, err)
		}
		for _, cert := range certs {
			if now := o.now(); now.After(cert.NotAfter) || now.Before(cert.NotBefore) {
				return fmt.Errorf("%s: caBundle holds %q, valid %s to %s only", b.name, cert.Subject.CommonName, cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339))
			}
		}
	}
	return nil
}

// checkRoot: the internal CA's root Secret holds a valid root that does not
// expire soon. Under cert-manager there is no such Secret: the issuer's CA is
// cert-manager's to watch.
func (o *checkOptions) checkRoot(ctx context.Context, c client.Client) error {
	var secrets corev1.SecretList
	if err := c.List(ctx, &secrets, client.InNamespace(o.meshNamespace), client.MatchingLabels{"app.kubernetes.io/component": "ca-root"}); err != nil {
		return err
	}
	if len(secrets.Items) == 0 {
		return warn("no root Secret in %s: weftd creates it on first start, or signs through cert-manager", o.meshNamespace)
	}
	for _, s := range secrets.Items {
		certs, err := parseCertificates(s.Data["ca.crt"])
		if err != nil {
			return fmt.Errorf("root Secret %s/%s, ca.crt: %w", s.Namespace, s.Name, err)
		}
		for _, cert := range certs {
			left := cert.NotAfter.Sub(o.now())
			switch {
			case left <= 0:
				return fmt.Errorf("root %q in Secret %s/%s expired on %s: rotate it (docs/root-rotation.md)", cert.Subject.CommonName, s.Namespace, s.Name, cert.NotAfter.Format(time.RFC3339))
			case left < o.rootWarning:
				return warn("root %q in Secret %s/%s expires on %s: rotate it (docs/root-rotation.md)", cert.Subject.CommonName, s.Namespace, s.Name, cert.NotAfter.Format(time.RFC3339))
			}
		}
	}
	return nil
}

func parseCertificates(bundle []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := bundle; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate")
	}
	return certs, nil
}
