"""The `relay` operator command line for indstocks-relay (see relay_cli.cli)."""
