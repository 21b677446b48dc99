// The Gateway module. See DESIGN.md.
