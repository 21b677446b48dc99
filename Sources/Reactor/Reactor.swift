// The Reactor module. See DESIGN.md.
