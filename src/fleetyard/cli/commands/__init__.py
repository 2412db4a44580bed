"""One module per command group; each calls the SDK and hands results to the output."""
