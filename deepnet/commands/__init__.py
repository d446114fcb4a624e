"""The `deepnet` command's subcommands, one module each, above the library (nothing in the library imports
them): deepnet/cli.py parses the command line and calls them."""
