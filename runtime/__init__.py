"""What a long-running process of the platform needs, whichever app it belongs to (the API,
the relay, the workers): stopping on a signal, and registering its Prometheus collectors."""
