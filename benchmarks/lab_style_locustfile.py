"""A client written like the lab's tasks.py, for comparison only: HttpUser, and the request
body kept as a dict that is serialised again on every request."""

import base64
import json

from locust import HttpUser, between, task

from loadtest.model_api import default_image


class LabStyleUser(HttpUser):
    wait_time = between(0.8, 0.9)

    def on_start(self):
        self.request_body = {
            "signature_name": "serving_preprocess",
            "instances": [{"b64": base64.b64encode(default_image()).decode()}],
        }

    @task
    def predict(self):
        with self.client.post(
            "/v1/models/image_classifier/versions/1:predict", json=self.request_body, catch_response=True
        ) as response:
            if "error" in json.loads(response.text):
                response.failure(response.text)
