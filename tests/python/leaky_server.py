"""A threaded http.server service on 127.0.0.1 that leaks one logging
logger per request (logging.getLogger(f"req.{i}"), each given a handler,
so that logging's own weak-reference list grows with them), beside an
lru_cache of rendered pages and a set of one short string a request
(steady growth under the noise floor). The test drives it
with urllib; GET /dump?path=P dumps its heap to P. It prints its port
on the first line; the test terminates it.
Usage: leaky_server.py"""

import functools
import gc
import http.server
import itertools
import logging
import sys
import urllib.parse

import memtrace

COUNTER = itertools.count()
SEEN = set()   # noise: one short string a request, under 2 KiB a batch


@functools.lru_cache(maxsize=64)
def render(page):
    return "<html><body>page %s</body></html>" % page


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(url.query)
        if url.path == "/dump":
            gc.collect()
            memtrace.dump_heap(q["path"][0])
            body = b"dumped"
        else:
            i = next(COUNTER)
            log = logging.getLogger(f"req.{i}")   # the leak: never released
            log.addHandler(logging.NullHandler())
            log.debug("request %d", i)
            SEEN.add(sys.intern("r%d" % i))
            body = render(int(q.get("page", ["0"])[0]) % 200).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


main()
