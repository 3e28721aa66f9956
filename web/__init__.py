"""The HTTP side's JSON API: API tokens, the case routes, and the app that serves them."""
