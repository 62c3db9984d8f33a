"""API clients, their roles and the authentication of each request."""
