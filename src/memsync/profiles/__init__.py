"""Developer knowledge profiles and team insights: pure metrics plus jinja2 rendering."""
