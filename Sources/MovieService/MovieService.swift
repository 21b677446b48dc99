// The MovieService module. See DESIGN.md.
