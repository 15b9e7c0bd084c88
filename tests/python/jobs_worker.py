"""A batch worker, as people write them: routes on networkx graphs, and
every failed job's exception kept for a report at the end. Each exception's
traceback keeps find_route's frame, and with it the graph in its local G.

Run: jobs_worker.py OUT.snap [JOBS]; dumps the heap when the batch is done.
"""

import sys

try:
    from networkx import Graph, NetworkXNoPath as NoPath, shortest_path
except ImportError:  # the same shapes, for an interpreter without networkx

    class NoPath(Exception):
        pass

    class Graph:
        def __init__(self):
            self.adj = {}

        def add_edges_from(self, edges):
            for a, b in edges:
                self.adj.setdefault(a, set()).add(b)
                self.adj.setdefault(b, set()).add(a)

    def shortest_path(G, src, dst):
        seen, todo = {src: [src]}, [src]
        for v in todo:
            for w in G.adj.get(v, ()):
                if w not in seen:
                    seen[w] = seen[v] + [w]
                    todo.append(w)
        if dst not in seen:
            raise NoPath(f"no path between {src} and {dst}")
        return seen[dst]

import memtrace

FAILED = []


def build_graph(job):
    G = Graph()
    # Two islands: no route from one to the other.
    G.add_edges_from((f"a{i}", f"a{i + 1}") for i in range(20 + job % 5))
    G.add_edges_from((f"b{i}", f"b{i + 1}") for i in range(20))
    return G


def find_route(G, src, dst):
    return shortest_path(G, src, dst)  # raises for a job without a route


def process(job):
    try:
        return find_route(build_graph(job), "a0", "b0" if job % 2 else "a5")
    except NoPath as exc:
        FAILED.append(exc)
        return None


def main():
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    for job in range(jobs):
        process(job)
    memtrace.dump_heap(sys.argv[1])


if __name__ == "__main__":
    main()
