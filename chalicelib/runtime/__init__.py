"""Runtime wiring of a container: AWS clients, services, caches, logs and metrics, warm-up."""
