// The WatchlistService module. See DESIGN.md.
