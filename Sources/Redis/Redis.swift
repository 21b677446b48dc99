// The Redis module. See DESIGN.md.
