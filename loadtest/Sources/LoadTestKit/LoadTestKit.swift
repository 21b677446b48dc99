// The load generator. See loadtest/README.md.
