"""The HTTP API's routes, one module per resource, and the dependencies they share."""
