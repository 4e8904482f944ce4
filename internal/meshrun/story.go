package meshrun

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

// BookstoreTarget is what bookbuyer and bookthief dial.
const BookstoreTarget = "xds:///bookstore.bookstore.svc.cluster.local:14001"

// Story is the bookstore story on a mesh started from demo/mesh: its steps
// run in order, each saying what the clients saw, and fail when they saw
// something else.
type Story struct {
	Mesh *Mesh
	// Root is the module's folder (demo/ is under it).
	Root  string
	buyer *Process
}

// Step is one step of the story.
type Step struct {
	Name string
	Run  func(ctx context.Context) (string, error)
}

// StartBookstore starts the mesh of demo/mesh in workDir with bookstore v1
// and v2 serving.
func StartBookstore(ctx context.Context, bins Binaries, root, workDir string) (*Story, error) {
	m, err := Start(ctx, bins, workDir, filepath.Join(root, "demo", "mesh"))
	if err != nil {
		return nil, err
	}
	for _, s := range []struct{ pod, addr string }{{"bookstore-v1", "127.0.1.1:14001"}, {"bookstore-v2", "127.0.1.2:14001"}} {
		if _, err := m.Serve(ctx, "bookstore", s.pod, s.pod, s.addr); err != nil {
			m.Stop()
			return nil, err
		}
	}
	return &Story{Mesh: m, Root: root}, nil
}

// Steps are the story's steps.
func (s *Story) Steps() []Step {
	return []Step{
		{"permissive mode: bookbuyer reaches bookstore", s.permissive},
		{"permissive mode off, no policy: bookbuyer is denied", s.denied},
		{"a TrafficTarget lets bookbuyer buy; bookthief and other methods stay denied", s.trafficTarget},
		{"a TrafficSplit divides bookbuyer's calls 50/50, then moves them all to v2", s.split},
		{"a client without a mesh certificate cannot connect", s.noCertificate},
		{"service certificates rotate under steady traffic and no call fails", s.rotation},
	}
}

func (s *Story) policy(name string) string { return filepath.Join(s.Root, "demo", "policies", name) }

func (s *Story) permissive(ctx context.Context) (string, error) {
	var err error
	if s.buyer, err = s.Mesh.Caller(ctx, "bookbuyer", "bookbuyer", BookstoreTarget, "unary", 100); err != nil {
		return "", err
	}
	took, _, err := s.until(ctx, 50, func(c Call) bool { return c.OK }, "bookbuyer's calls to succeed", time.Now())
	if err != nil {
		return "", err
	}
	calls, err := s.buyer.Calls(ctx, 100)
	if err != nil {
		return "", err
	}
	if f := calls.Failures(); len(f) > 0 {
		return "", fmt.Errorf("bookbuyer's calls: %s, want no failure", calls)
	}
	return fmt.Sprintf("bookbuyer's first calls succeeded %v after it started; 100 calls: %s", took, calls), nil
}

func (s *Story) denied(ctx context.Context) (string, error) {
	b, err := os.ReadFile(filepath.Join(s.Root, "demo", "mesh", "meshconfig.yaml"))
	if err != nil {
		return "", err
	}
	at, err := s.Mesh.Apply("meshconfig.yaml", []byte(strings.Replace(string(b), "enablePermissiveTrafficPolicyMode: true", "enablePermissiveTrafficPolicyMode: false", 1)))
	if err != nil {
		return "", err
	}
	took, _, err := s.until(ctx, 50, func(c Call) bool { return c.Code == "PermissionDenied" }, "bookbuyer to be denied", at)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("MeshConfig edited: bookbuyer was denied (PermissionDenied) %v later", took), nil
}

func (s *Story) trafficTarget(ctx context.Context) (string, error) {
	at, err := s.Mesh.ApplyFile(s.policy("access.yaml"))
	if err != nil {
		return "", err
	}
	took, _, err := s.until(ctx, 50, func(c Call) bool { return c.OK }, "bookbuyer to be allowed", at)
	if err != nil {
		return "", err
	}
	thief, err := s.callOnce(ctx, "bookthief", "bookthief", "unary")
	if err != nil {
		return "", err
	}
	other, err := s.callOnce(ctx, "bookbuyer", "bookbuyer", "empty")
	if err != nil {
		return "", err
	}
	if o := thief.Outcomes(); o["PermissionDenied"] != len(thief) {
		return "", fmt.Errorf("bookthief's calls: %s, want every one PermissionDenied", thief)
	}
	if o := other.Outcomes(); o["PermissionDenied"] != len(other) {
		return "", fmt.Errorf("bookbuyer's EmptyCall (a method the HTTPRouteGroup does not list): %s, want every one PermissionDenied", other)
	}
	return fmt.Sprintf("access.yaml applied: bookbuyer's UnaryCall allowed %v later; bookthief: %s; bookbuyer's EmptyCall: %s", took, thief, other), nil
}

// callOnce runs a caller as the pod for 20 calls.
func (s *Story) callOnce(ctx context.Context, namespace, pod, method string) (Calls, error) {
	p, err := s.Mesh.Caller(ctx, namespace, pod, BookstoreTarget, method, 50)
	if err != nil {
		return nil, err
	}
	defer p.Stop()
	return p.Calls(ctx, 20)
}

func (s *Story) split(ctx context.Context) (string, error) {
	b, err := os.ReadFile(s.policy("split.yaml"))
	if err != nil {
		return "", err
	}
	split := string(b)
	if _, err := s.Mesh.Apply("split.yaml", []byte(split)); err != nil {
		return "", err
	}
	// Both versions also back the root Service, so 50/50 is also what round
	// robin over its endpoints gives: the split's own effect shows in the
	// shift.
	if _, _, err := s.until(ctx, 20, func(c Call) bool { return c.OK }, "bookbuyer's calls to succeed", time.Now()); err != nil {
		return "", err
	}
	// The split is in place within a second. A call made at the instant
	// the route first names the new clusters may fail in grpc-go ("unknown
	// cluster selected"): those are counted and shown, not held against the
	// split.
	switching, err := s.readFor(ctx, time.Second)
	if err != nil {
		return "", err
	}
	calls, err := s.buyer.Calls(ctx, 400)
	if err != nil {
		return "", err
	}
	o := calls.Outcomes()
	// 400 calls at 1/2: the standard deviation is 10 calls; 40 is four.
	if o["bookstore-v1"] < 160 || o["bookstore-v2"] < 160 || len(calls.Failures()) > 0 {
		return "", fmt.Errorf("50/50 split: %s, want each version within 200±40 and no failure", calls)
	}
	edited := strings.NewReplacer("{service: bookstore-v1, weight: 50}", "{service: bookstore-v1, weight: 0}",
		"{service: bookstore-v2, weight: 50}", "{service: bookstore-v2, weight: 100}").Replace(split)
	at, err := s.Mesh.Apply("split.yaml", []byte(edited))
	if err != nil {
		return "", err
	}
	took, before, err := s.until(ctx, 200, func(c Call) bool { return c.Server == "bookstore-v2" }, "the calls to move to bookstore-v2", at)
	if err != nil {
		return "", err
	}
	if f := before.Failures(); len(f) > 0 {
		return "", fmt.Errorf("calls failed during the shift: %s", f)
	}
	return fmt.Sprintf("50/50: 400 calls %s (each within 200±40; while the split came in: %s); edited to 0/100: every call went to bookstore-v2 %v after the edit, none failed",
		calls, switching, took), nil
}

// until waits until want holds for n calls in a row of bookbuyer's, and
// returns how long after since that run began.
func (s *Story) until(ctx context.Context, n int, want func(Call) bool, what string, since time.Time) (time.Duration, Calls, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	at, before, err := s.buyer.WaitFor(ctx, n, want)
	if err != nil {
		last := before
		if len(last) > 5 {
			last = last[len(last)-5:]
		}
		return 0, before, fmt.Errorf("waiting for %s: %w (last calls: %+v)", what, err, last)
	}
	return max(0, at.Sub(since)).Round(time.Millisecond), before, nil
}

func (s *Story) noCertificate(ctx context.Context) (string, error) {
	self, err := selfSigned()
	if err != nil {
		return "", err
	}
	var seen []string
	for _, c := range []struct {
		name string
		tls  *tls.Config
	}{
		{"no certificate", &tls.Config{InsecureSkipVerify: true}},
		{"a self-signed certificate", &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{self}}},
	} {
		conn, err := grpc.NewClient("127.0.1.1:14001", grpc.WithTransportCredentials(credentials.NewTLS(c.tls)))
		if err != nil {
			return "", err
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = testgrpc.NewTestServiceClient(conn).UnaryCall(cctx, &testgrpc.SimpleRequest{})
		cancel()
		conn.Close()
		if err == nil {
			return "", fmt.Errorf("a client with %s called bookstore-v1 directly, want it refused", c.name)
		}
		seen = append(seen, fmt.Sprintf("with %s: %s", c.name, status.Code(err)))
	}
	return "calling bookstore-v1 directly " + strings.Join(seen, "; "), nil
}

// selfSigned is a client certificate no mesh root signed, with bookbuyer's name.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bookbuyer.bookbuyer.cluster.local"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// rotation shortens the certificates' lifetime to a minute (the CA's
// shortest), which reissues them at once and again before they expire, and
// keeps bookbuyer calling through two rotations of bookstore-v1's
// certificate.
func (s *Story) rotation(ctx context.Context) (string, error) {
	b, err := os.ReadFile(filepath.Join(s.Root, "demo", "mesh", "meshconfig.yaml"))
	if err != nil {
		return "", err
	}
	mc := strings.Replace(string(b), "enablePermissiveTrafficPolicyMode: true", "enablePermissiveTrafficPolicyMode: false", 1) +
		"  certificate:\n    serviceCertValidityDuration: 1m\n"
	certFile := filepath.Join(s.Mesh.PodDir("bookstore", "bookstore-v1"), "tls.crt")
	first, err := serialOf(certFile)
	if err != nil {
		return "", err
	}
	start, err := s.Mesh.Apply("meshconfig.yaml", []byte(mc))
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	serials := []string{first}
	var calls Calls
	for len(serials) < 3 {
		read, err := s.readFor(ctx, time.Second)
		calls = append(calls, read...)
		if err != nil {
			return "", fmt.Errorf("after %d rotations: %w", len(serials)-1, err)
		}
		if serial, err := serialOf(certFile); err == nil && serial != serials[len(serials)-1] {
			serials = append(serials, serial)
		}
	}
	// Calls made with the last certificate, once gRPC has reread the files.
	more, err := s.readFor(ctx, 12*time.Second)
	calls = append(calls, more...)
	if err != nil {
		return "", err
	}
	if f := calls.Failures(); len(f) > 0 {
		return "", fmt.Errorf("%d of %d calls failed during the rotations: %s", len(f), len(calls), f)
	}
	// The steady caller's connection was made before; a new one handshakes
	// with the certificates now in the files (the first one-minute
	// certificate has expired by now).
	fresh, err := s.callOnce(ctx, "bookbuyer", "bookbuyer", "unary")
	if err != nil {
		return "", err
	}
	if f := fresh.Failures(); len(f) > 0 {
		return "", fmt.Errorf("a new bookbuyer connection after the rotations: %s, want every call OK", fresh)
	}
	return fmt.Sprintf("bookstore-v1's certificate was replaced twice in %v (serials %s); bookbuyer made %d calls meanwhile, none failed (%s); a new connection then: %s",
		since(start), strings.Join(serials, " → "), len(calls), calls, fresh), nil
}

// readFor reads bookbuyer's calls for d.
func (s *Story) readFor(ctx context.Context, d time.Duration) (Calls, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var out Calls
	for {
		c, err := s.buyer.NextCall(ctx)
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
				return out, nil
			}
			return out, err
		}
		out = append(out, c)
	}
}

func serialOf(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return "", fmt.Errorf("%s holds no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", err
	}
	return c.SerialNumber.Text(16)[:8], nil
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }
