"""One module per resource; ``qlambda.gateway.api.main`` gathers their routers."""
