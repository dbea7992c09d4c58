"""The web side: Flask-AppBuilder apps built per definitions revision, their views and APIs."""
