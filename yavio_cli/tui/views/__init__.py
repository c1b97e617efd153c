"""The views of the dashboard, one module each; `View` is what they have in common."""
