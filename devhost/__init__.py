"""A small stand-in for the Azure Functions host (`func start`) for v2-model Python apps."""
