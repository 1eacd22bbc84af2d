"""Load test for the deployed TF Serving model; it knows the stack only through `pulumi stack output`."""
