"""`yavio tui`: the live terminal dashboard, a Textual app over the server's read API."""
