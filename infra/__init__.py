"""The stack's components, one module per concern: settings, cluster, model store, serving."""
