"""The benchmark's baseline: a bare Flask endpoint that reads the body and returns 204."""

from __future__ import annotations

from flask import Flask, request

app = Flask(__name__)


@app.post("/v1/track")
@app.post("/v1/track/batch")
def track():
    request.get_data()
    return "", 204
