// The ServiceKit module. See DESIGN.md.
