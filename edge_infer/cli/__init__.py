"""The ``edge-infer`` command line: argparse subcommands, each a thin wrapper over a public function."""
