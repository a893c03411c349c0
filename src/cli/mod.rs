//! The command line: one small function per subcommand over the library.
