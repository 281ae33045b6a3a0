"""The HTTP edge: Lambda's REST API, the platform's own endpoints, error mapping."""
