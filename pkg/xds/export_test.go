package xds

// OpenStreams returns how many streams the server holds state for.
func (s *Server) OpenStreams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// CachedVersion returns the version of typ in the snapshot that
// go-control-plane's cache holds for nodeID; ok is false when it holds none.
func (s *Server) CachedVersion(nodeID, typ string) (version string, ok bool) {
	snap, err := s.cache.GetSnapshot(nodeID)
	if err != nil {
		return "", false
	}
	return snap.GetVersion(typ), true
}
