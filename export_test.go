package wsgate

// RoomTables returns how many rooms and how many subjects the gateway's
// index holds, for the tests of wsgate_test that check that nothing stays
// behind once connections end.
func RoomTables(g *Gateway) (rooms, subjects int) {
	g.hub.mu.RLock()
	defer g.hub.mu.RUnlock()
	return len(g.hub.rooms), len(g.hub.subjects)
}
