"""The staff web pages' helpers: sessions, CSRF, templates, form parsing and view models."""
