// The AuthToken module. See DESIGN.md.
