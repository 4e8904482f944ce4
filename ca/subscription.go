package ca

import "sync"

// Subscription receives the Manager's renewals and trust-bundle changes. The
// Manager never blocks on it: changes accumulate (the latest certificate per
// key) until the subscriber takes them, so a slow subscriber misses nothing
// and delays nobody.
//
//	sub := manager.Subscribe()
//	defer sub.Close()
//	for {
//		select {
//		case <-sub.Ready():
//			u := sub.Take()
//			// push u.Renewed, and the bundle if u.BundleChanged
//		case <-ctx.Done():
//			return
//		}
//	}
type Subscription struct {
	ready chan struct{}
	close func()

	mu            sync.Mutex
	renewed       map[string]*Certificate
	order         []string
	bundleChanged bool
}

// Update is what changed since the last Take.
type Update struct {
	// Renewed holds the newest certificate of each renewed key, in the order
	// they were first renewed.
	Renewed []*Certificate
	// BundleChanged says the trust bundle (Manager.Bundle) changed.
	BundleChanged bool
}

// Subscribe returns a new subscription. Close it when done.
func (m *Manager) Subscribe() *Subscription {
	s := &Subscription{ready: make(chan struct{}, 1), renewed: map[string]*Certificate{}}
	s.close = func() {
		m.mu.Lock()
		delete(m.subs, s)
		m.mu.Unlock()
	}
	m.mu.Lock()
	m.subs[s] = struct{}{}
	m.mu.Unlock()
	return s
}

// Ready receives a value when changes are waiting to be taken.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Take returns and clears the waiting changes.
func (s *Subscription) Take() Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := Update{BundleChanged: s.bundleChanged}
	for _, k := range s.order {
		u.Renewed = append(u.Renewed, s.renewed[k])
	}
	s.renewed, s.order, s.bundleChanged = map[string]*Certificate{}, nil, false
	return u
}

// Close stops the subscription.
func (s *Subscription) Close() { s.close() }

func (s *Subscription) addRenewal(key string, c *Certificate) {
	s.mu.Lock()
	if _, ok := s.renewed[key]; !ok {
		s.order = append(s.order, key)
	}
	s.renewed[key] = c
	s.mu.Unlock()
	s.signal()
}

func (s *Subscription) addBundleChange() {
	s.mu.Lock()
	s.bundleChanged = true
	s.mu.Unlock()
	s.signal()
}

func (s *Subscription) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}
