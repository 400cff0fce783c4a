"""Screens pushed over the main view: dialogs, help and the request detail."""
