// The TLS module. See DESIGN.md.
