// The HTTP module. See DESIGN.md.
