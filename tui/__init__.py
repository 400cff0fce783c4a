"""agproxy-tui: the Textual control panel."""
