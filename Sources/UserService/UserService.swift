// The UserService module. See DESIGN.md.
