"""Open311 GeoReport v2 against a real server on loopback, read with the `georeport`
client library from PyPI (JSON and XML, parsed by its xmltodict). The library has no
call for POST requests, so the report is posted with `requests`, exactly as the spec
describes: form-encoded, or multipart/form-data with the photo as the `media` file (what
GeoReport clients send to upload one); everything read back goes through the library.

Run by scripts/test-browser: python -m unittest discover tests/open311
"""
import hashlib
import json
import os
import subprocess
import unittest

import requests
from georeport import GeoReport

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Open311Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        binary = os.environ.get("CONSOLE_TEST_SERVER") or os.path.join(ROOT, "target", "debug", "console-test-server")
        cls.server = subprocess.Popen([binary, "--no-day"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        cls.ready = json.loads(cls.server.stdout.readline())
        cls.base = cls.ready["url"] + "/open311/v2"

    @classmethod
    def tearDownClass(cls):
        cls.server.stdin.close()
        cls.server.wait(timeout=20)

    def post(self, fmt="json", **fields):
        return requests.post(f"{self.base}/requests.{fmt}", data=fields, timeout=10)

    def test_services_and_definitions_in_json_and_xml(self):
        for fmt in ("json", "xml"):
            client = GeoReport(self.base, output_format=fmt)
            services = client.get_service_list()
            codes = {s["service_code"] for s in services}
            self.assertIn("20102", codes, fmt)
            garbage = next(s for s in services if s["service_code"] == "20102")
            self.assertEqual(garbage["service_name"], "暴露垃圾")
            definition = client.get_service_definition("20102")
            self.assertEqual(definition["service_code"], "20102")

    def test_a_report_becomes_a_case_waiting_to_be_registered(self):
        answer = self.post(api_key=self.ready["open311_key"], service_code="20102", lat="30.2651",
                           long="120.0991", description="小区门口垃圾堆积", media_url="https://example.org/p.jpg")
        self.assertEqual(answer.status_code, 200, answer.text)
        request_id = answer.json()[0]["service_request_id"]
        for fmt in ("json", "xml"):
            client = GeoReport(self.base, output_format=fmt)
            one = client.get_service_request(request_id)
            self.assertEqual(one["service_request_id"], request_id, fmt)
            self.assertEqual(one["status"], "open")
            self.assertEqual(one["status_notes"], "已受理，等待立案")
            self.assertEqual(one["description"], "小区门口垃圾堆积")
            self.assertEqual(one["media_url"], "https://example.org/p.jpg")
            listed = client.get_service_requests(service_code="20102", status="open")
            listed = listed if isinstance(listed, list) else [listed]
            self.assertIn(request_id, [r["service_request_id"] for r in listed])
        # The server-side case: reported, from open311, visible to a dispatcher's API.
        token = requests.post(self.ready["url"] + "/v1/login",
                              json={"username": "dispatch-xihu", "password": "xihu-demo-2026"}, timeout=10).json()["token"]
        queues = requests.get(self.ready["url"] + "/v1/queues", headers={"Authorization": "Bearer " + token}, timeout=10).json()
        register = next(q for q in queues["queues"] if q["key"] == "to_register")
        ours = [c for c in register["items"] if c["id"] == request_id]
        self.assertEqual(len(ours), 1)
        self.assertEqual(ours[0]["source"], "open311")

    def dispatcher(self):
        token = requests.post(self.ready["url"] + "/v1/login",
                              json={"username": "dispatch-xihu", "password": "xihu-demo-2026"}, timeout=10).json()["token"]
        return {"Authorization": "Bearer " + token}

    def test_a_report_with_an_uploaded_photo_shows_it_on_the_case(self):
        photos = os.environ.get("FIELDLOOP_PHOTOS") or os.path.join(ROOT, "..", "shared", "photos")
        path = os.path.join(photos, "coolpix-gps-a.jpg")
        if not os.path.exists(path):
            if os.environ.get("CI") == "true":
                self.fail(f"{path} missing")
            self.skipTest(f"{path} missing")
        with open(path, "rb") as photo:
            answer = requests.post(f"{self.base}/requests.json", timeout=30, data={
                "api_key": self.ready["open311_key"], "service_code": "20102", "lat": "30.2653", "long": "120.0993",
                "description": "绿化带里有建筑垃圾（附照片）"}, files={"media": ("DSCN0010.JPG", photo, "image/jpeg")})
        self.assertEqual(answer.status_code, 200, answer.text)
        request_id = answer.json()[0]["service_request_id"]
        one = GeoReport(self.base).get_service_request(request_id)
        self.assertEqual(one["description"], "绿化带里有建筑垃圾（附照片）")
        case = requests.get(f"{self.ready['url']}/v1/cases/{request_id}", headers=self.dispatcher(), timeout=10).json()
        self.assertEqual([p["stage"] for p in case["photos"]], ["before"])
        stored = requests.get(self.ready["url"] + case["photos"][0]["url"], headers=self.dispatcher(), timeout=10)
        self.assertEqual(stored.status_code, 200)
        self.assertEqual(stored.content[:2], b"\xff\xd8", "a JPEG")
        self.assertEqual(hashlib.sha256(stored.content).hexdigest(), case["photos"][0]["hash"])

        # Not an image: the spec's error, and no case.
        refused = requests.post(f"{self.base}/requests.xml", timeout=10, data={
            "api_key": self.ready["open311_key"], "service_code": "20102", "lat": "30.2653", "long": "120.0993"},
            files={"media": ("photo.jpg", b"plain text, not a photo", "image/jpeg")})
        self.assertEqual(refused.status_code, 400)
        self.assertIn("<errors><error><code>400</code><description>media 不是可读的图片", refused.text)

    def test_errors_follow_the_spec(self):
        no_key = self.post(service_code="20102", lat="30.2651", long="120.0991")
        self.assertEqual(no_key.status_code, 403)
        self.assertEqual(no_key.json()[0]["code"], 403)
        bad_key = self.post(api_key="nope", service_code="20102", lat="30.2651", long="120.0991")
        self.assertEqual(bad_key.status_code, 403)
        outside = self.post("xml", api_key=self.ready["open311_key"], service_code="20102", lat="39.9", long="116.4")
        self.assertEqual(outside.status_code, 400)
        self.assertIn("<errors><error><code>400</code><description>", outside.text)
        unknown = self.post(api_key=self.ready["open311_key"], service_code="99999", lat="30.2651", long="120.0991")
        self.assertEqual(unknown.status_code, 400)
        self.assertIn("service_code", unknown.json()[0]["description"])
        missing = requests.get(f"{self.base}/requests/00000000-0000-0000-0000-000000000000.json", timeout=10)
        self.assertEqual(missing.status_code, 404)
        with self.assertRaises(requests.HTTPError):
            GeoReport(self.base).get_service_definition("nope")

    def test_discovery(self):
        discovery = requests.get(f"{self.base}/discovery.json", timeout=10).json()
        self.assertEqual(discovery["endpoints"][0]["url"], self.base)


if __name__ == "__main__":
    unittest.main()
