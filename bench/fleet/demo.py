"""The README's "On a Dask cluster" example: three workers on this machine,
one made to hold 30,000 buffers of 1 KB, one appending 1,000 dicts to a
list before each of three dumps; dumps into ./dumps, then the info and
fleet analyses on the cluster.

Usage: PYTHONPATH=build/python /usr/bin/python3 bench/fleet/demo.py"""
import memtrace.dask
from distributed import Client, LocalCluster

def hold(dask_worker):                      # one worker holds far more
    dask_worker.big = [bytes(1000) for _ in range(30000)]

def grow(dask_worker):                      # one worker leaks
    dask_worker.__dict__.setdefault("cache", []).extend({"n": i} for i in range(1000))

if __name__ == "__main__":
    with LocalCluster(n_workers=3, threads_per_worker=1, dashboard_address=None) as cluster, Client(cluster) as client:
        a, b, c = sorted(client.scheduler_info()["workers"])
        client.run(hold, workers=[a])
        files = []
        for _ in range(3):
            client.run(grow, workers=[b])
            report = memtrace.dask.dump(client, "dumps")
            files += report["files"]
        print(report["tag"], "failed:", report["failed"])
        for addr, w in sorted(report["workers"].items()):
            print(" ", w["name"], addr, w["pid"], sorted(w["files"]), "skipped:", sorted(w["skipped"]))
        info = memtrace.dask.analyze([f for f in files if "/heap-" in f], "info", client=client)
        m = info["merged"]
        print("info:", m["files"], "files,", m["objects"], "objects,", m["object_bytes"], "bytes; largest type:", m["types"][0])
        fleet = memtrace.dask.analyze(files, "fleet", client=client)["merged"]
        print("outliers:", fleet["outliers"])
        for w in fleet["workers"]:
            if w["outlier"]:
                print(" ", w["worker"], "by", w["outlier_by"], "z=%.1f" % w["z"][w["outlier_by"]], w["types"][0])
        for l in fleet["leaks"][:2]:
            print("leak:", l["type"], "in", l["point_type"], "on", l["workers"], l["bytes_per_snapshot"], "bytes a dump")
