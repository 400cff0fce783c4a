"""The widgets of agproxy-tui, one module per tab plus the status header."""
