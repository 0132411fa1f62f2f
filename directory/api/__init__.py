"""REST API v1 of the directory (serializers, viewsets, routes)."""
