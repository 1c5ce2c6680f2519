"""Web push: the dashboard's notification to eligible members' browsers, and its routes."""
