"""The `deepnet` command's subcommands, one module each, above the library (nothing in the library imports
them). Each has NAME (the subcommand), HELP (its line in `deepnet --help`), optionally DESCRIPTION,
add_arguments(parser) and run(args) -> exit status; deepnet/cli.py only builds the parser from them and
dispatches. arguments.py holds what several parsers share."""
