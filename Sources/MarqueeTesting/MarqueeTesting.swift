// The MarqueeTesting module. See DESIGN.md.
