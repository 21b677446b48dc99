// The Postgres module. See DESIGN.md.
