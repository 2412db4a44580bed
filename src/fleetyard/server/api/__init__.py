"""HTTP routes and the request pipeline. Thin: parse, authorise, call a service, shape."""
