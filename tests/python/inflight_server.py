"""A threaded http.server on 127.0.0.1 with a module-level registry: each
request makes a Payload, files it in REGISTRY and, for this test, waits on
an Event while the main thread dumps the heap. The payload is then held
both by the module's dict and by the in-flight request's frame (local
'payload').

Run: inflight_server.py OUT.snap
"""

import http.server
import sys
import threading
import urllib.request

import memtrace

REGISTRY = {}
ARRIVED = threading.Event()
RELEASE = threading.Event()


class Payload:
    def __init__(self, key):
        self.key = key
        self.blob = bytearray(64 * 1024)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        payload = Payload(self.path)
        REGISTRY[self.path] = payload
        ARRIVED.set()
        RELEASE.wait(30)  # in flight while the heap is dumped
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/item"
    answer = []
    client = threading.Thread(target=lambda: answer.append(urllib.request.urlopen(url, timeout=30).read()))
    client.start()
    if not ARRIVED.wait(30):
        sys.exit("the request never arrived")
    memtrace.dump_heap(sys.argv[1])
    RELEASE.set()
    client.join(30)
    server.shutdown()
    if answer != [b"ok"]:
        sys.exit(f"the request failed: {answer}")


if __name__ == "__main__":
    main()
