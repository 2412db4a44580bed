"""The Fleetyard server: ``create_app(settings)`` builds the ASGI application."""
