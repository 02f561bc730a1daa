"""Rendering what people see from state: every message and view comes from a template in templates/."""
