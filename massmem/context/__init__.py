"""Context management: token accounting and compression."""
