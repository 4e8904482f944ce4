package xds

// OpenStreams returns how many streams the server holds state for.
func (s *Server) OpenStreams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}
