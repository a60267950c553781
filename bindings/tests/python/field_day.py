"""The field day, shortened, through the generated Python bindings against a real server.

    PYTHONPATH=<bindings>/python python3 field_day.py <phone-test-server> <photos dir>

An inspector captures a case offline with a real JPEG, the dispatcher registers it, the
server dispatches it, the handler repairs it with an after-photo, the inspector verifies
on site, and the server's verdict closes it on every phone. Bad input is a typed error
and leaves the store as it was.
"""

import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

from fieldloop import fieldloop_core as core
from fieldloop import fieldloop_ffi as ffi

MINUTE = 60_000
ORIGIN = (30.262, 120.095)  # south-west corner of cell 330106001001001
CATEGORY = "20102"  # 暴露垃圾 → sanitation-xihu → `handler`


class Clock:
    """The day's clock, shared by the phones and the server."""

    def __init__(self, start):
        self.now = start

    def now_ms(self):
        return self.now


def site(east_m, north_m):
    lat = ORIGIN[0] + north_m / 111_320.0
    lon = ORIGIN[1] + east_m / (111_320.0 * math.cos(math.radians(ORIGIN[0])))
    return lat, lon


def fix(lat, lon):
    return ffi.PositionFix(lat=lat, lon=lon, accuracy_m=6.0, provider="fused", mock=False)


class Day:
    def __init__(self, server_exe, root):
        self.server = subprocess.Popen(
            [server_exe], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.url = self.server.stdout.readline().strip()
        start = int(self.server.stdout.readline().split()[1])
        self.day_start = start - (8 * 60 + 30) * MINUTE
        self.clock = Clock(start)
        self.root = root
        self.phones = []

    def at(self, hour, minute):
        self.clock.now = self.day_start + (hour * 60 + minute) * MINUTE
        self.server.stdin.write(f"at {self.clock.now}\n")
        self.server.stdin.flush()
        assert self.server.stdout.readline().strip() == "ok"

    def phone(self, user, password):
        phone = ffi.FieldPhone.open_with_clock(
            os.path.join(self.root, user), self.url, self.clock
        )
        phone.login(user, password)
        phone.register_device(f"python phone of {user}")
        self.phones.append(phone)
        return phone

    def close(self):
        for p in self.phones:
            p.shutdown()
        self.server.stdin.close()
        try:
            self.server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.server.kill()


def sync(phone):
    return asyncio.run(phone.sync_now())


def until(what, phone, done):
    deadline = time.monotonic() + 30
    while True:
        sync(phone)
        if done():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.25)


def store_state(phone):
    rows = [(t.id, t.status) for t in phone.inbox(ffi.InboxFilter.ALL)]
    return rows, phone.pending_changes(), phone.pending_photos()


def without_exif(jpeg):
    """A JPEG without its APP1 "Exif" segments; every other segment and the scan kept."""
    out = bytearray(jpeg[:2])
    at = 2
    while at + 4 <= len(jpeg) and jpeg[at] == 0xFF:
        marker = jpeg[at + 1]
        if marker == 0xDA:
            break
        length = (jpeg[at + 2] << 8) | jpeg[at + 3]
        if not (marker == 0xE1 and jpeg[at + 4 : at + 8] == b"Exif"):
            out += jpeg[at : at + 2 + length]
        at += 2 + length
    out += jpeg[at:]
    return bytes(out)


def city_catalogue():
    """The bundled catalogue with the city's own 共享单车乱停放 (29901, 5 working hours)."""
    with open(os.path.join("core", "data", "categories.json"), encoding="utf-8") as f:
        catalogue = json.load(f)
    catalogue["categories"].append({
        "kind": "event", "code": "9901", "major": "城市特色", "name": "共享单车乱停放",
        "gb47678": "99001",
        "limits": {
            "normal": {"steps": [{"step": "处置", "amount": 5, "unit": "working_hours"}]},
            "urgent": {"steps": [{"step": "处置", "amount": 1, "unit": "working_hours"}]},
        },
        "radius_m": 30.0, "unit_type": "城管", "source": "city",
    })
    return json.dumps(catalogue, ensure_ascii=False)


def import_as_admin(url, kind, body):
    """PUT /v1/reference/{kind} as the demo's admin."""
    login = urllib.request.Request(
        f"{url}/v1/login", method="POST",
        data=json.dumps({"username": "admin", "password": "admin-demo-pass"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(login, timeout=30) as reply:
        token = json.load(reply)["token"]
    put = urllib.request.Request(
        f"{url}/v1/reference/{kind}", method="PUT", data=body.encode("utf-8"),
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(put, timeout=30) as reply:
        assert reply.status == 201, reply.status


class PadVault(ffi.KeyVault):
    """A stand-in for the platform key store: XOR with a pad behind a tag. Keeps the
    secrets it sealed, so the test knows the bytes to look for on disk."""

    def __init__(self, pad_byte):
        self.pad = bytes((pad_byte + 7 * i) % 256 | 1 for i in range(32))
        self.sealed = []

    def seal(self, secret):
        self.sealed.append(bytes(secret))
        return b"pad1" + bytes(a ^ b for a, b in zip(secret, self.pad))

    def unseal(self, sealed):
        if not sealed.startswith(b"pad1"):
            raise ffi.VaultError.Failed("not sealed by this pad")
        return bytes(a ^ b for a, b in zip(sealed[4:], self.pad))


class BrokenVault(ffi.KeyVault):
    def seal(self, secret):
        raise RuntimeError("keystore gone")

    def unseal(self, sealed):
        raise RuntimeError("keystore gone")


def sealed_device_key(day):
    """The device key sealed by a Python vault: only the sealed form on disk, the same
    device when reopened, a typed error (and nothing changed) with another vault or none."""
    store = os.path.join(day.root, "sealed")
    vault = PadVault(0x21)
    phone = ffi.FieldPhone.open_with_vault_and_clock(store, day.url, vault, day.clock)
    phone.login("inspector", "inspect-demo-pass")
    phone.register_device("python phone, sealed key")
    device = phone.device_id()
    phone.shutdown()
    assert len(vault.sealed) == 1 and len(vault.sealed[0]) == 32, vault.sealed
    for name in os.listdir(store):
        path = os.path.join(store, name)
        if name.startswith("device.db") and os.path.isfile(path):
            with open(path, "rb") as f:
                assert vault.sealed[0] not in f.read(), f"plain secret in {name}"
    for other in (PadVault(0x55), BrokenVault(), None):
        try:
            if other is None:
                ffi.FieldPhone.open_with_clock(store, day.url, day.clock).shutdown()
            else:
                ffi.FieldPhone.open_with_vault_and_clock(store, day.url, other, day.clock).shutdown()
            raise AssertionError(f"opened with {other!r}")
        except ffi.FieldError.DeviceKeyUnavailable as e:
            assert e.reason, e
    again = ffi.FieldPhone.open_with_vault_and_clock(store, day.url, vault, day.clock)
    assert again.device_id() == device
    again.shutdown()
    print("ok   python sealed device key: only sealed on disk, reopened, wrong or no vault refused")


def main(server_exe, photos):
    root = tempfile.mkdtemp(prefix="fieldloop-py-")
    captured = os.path.join(root, "captures")
    os.makedirs(captured)

    def photo(name):
        # As a camera hands it over now: the stock files were taken years ago elsewhere,
        # and the verdict compares a photo's own EXIF time and GPS with the phone's claim
        # (tested with their real EXIF in core and e2e), so the phone gets a copy without
        # the EXIF block.
        path = os.path.join(photos, name)
        assert os.path.isfile(path), f"missing photo {path}"
        copy = os.path.join(captured, name)
        if not os.path.isfile(copy):
            with open(path, "rb") as f, open(copy, "wb") as out:
                out.write(without_exif(f.read()))
        return copy

    day = Day(server_exe, root)
    try:
        inspector = day.phone("inspector", "inspect-demo-pass")
        dispatcher = day.phone("dispatch-xihu", "xihu-demo-2026")
        handler = day.phone("handler", "handler-demo-pass")
        day.at(8, 31)
        for p in (inspector, dispatcher, handler):
            sync(p)

        day.at(8, 40)
        lat, lon = site(150, 150)
        assert inspector.grid_cell_at(lat, lon) == "330106001001001"
        before = store_state(inspector)
        try:
            asyncio.run(
                inspector.capture_case(
                    ffi.CaseDraft(
                        category="29999", position=fix(lat, lon), description=None,
                        address=None, urgent=False, component_id=None,
                        photo_paths=[photo("jolla-phone-8mp.jpg")],
                    )
                )
            )
            raise AssertionError("an unknown category was accepted")
        except ffi.FieldError.InvalidInput as e:
            assert e.field == "category", e.field
        assert store_state(inspector) == before, "nothing stored by a refused capture"

        case = asyncio.run(
            inspector.capture_case(
                ffi.CaseDraft(
                    category=CATEGORY, position=fix(lat, lon), description="垃圾堆放在路边",
                    address=None, urgent=False, component_id=None,
                    photo_paths=[photo("jolla-phone-8mp.jpg")],
                )
            )
        )
        assert inspector.pending_photos() == 1
        day.at(8, 45)
        sync(inspector)

        day.at(8, 50)
        sync(dispatcher)
        dispatcher.register_case(case, None)
        until("dispatch by the server", dispatcher,
              lambda: dispatcher.case_view(case).state.unit == "sanitation-xihu")

        day.at(9, 0)
        sync(handler)
        task = next(t for t in handler.inbox(ffi.InboxFilter.CASES) if t.id == case)
        assert task.band == core.Band.GREEN and task.remaining_working_minutes > 0, task
        handler.accept_case(case)
        day.at(9, 20)
        after = ffi.PhotoInput(path=photo("olympus-ep3-12mp.jpg"), position=fix(*site(152, 148)))
        asyncio.run(handler.hand_in_repair(case, "已清运", [after]))
        sync(handler)

        day.at(9, 40)
        sync(inspector)
        verify = ffi.PhotoInput(path=photo("coolpix-gps-a.jpg"), position=fix(*site(154, 147)))
        report = asyncio.run(inspector.precheck_verification(case, True, [verify]))
        assert report.would_pass, report.warnings
        asyncio.run(inspector.submit_verification(case, True, None, [verify]))
        until("the verdict closes the case", inspector,
              lambda: inspector.case_view(case).state.status == core.CaseStatus.CLOSED)
        for p in (dispatcher, handler):
            sync(p)
            assert p.case_view(case).state.status == core.CaseStatus.CLOSED
        print("ok   python field day: captured offline, dispatched, repaired, verified, closed on 3 phones")

        # The city imports a category of its own; the phone finds it after its next sync.
        assert inspector.search_categories("共享单车") == []
        import_as_admin(day.url, "categories", city_catalogue())
        sync(inspector)
        found = inspector.search_categories("共享单车")
        assert [c.key for c in found] == ["29901"], found
        assert found[0].limits.normal.steps[0].limit.amount == 5, found[0]
        print("ok   python city category: found in the offline picker after sync")

        sealed_device_key(day)
    finally:
        day.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: field_day.py <phone-test-server> <photos dir>")
    main(sys.argv[1], sys.argv[2])
