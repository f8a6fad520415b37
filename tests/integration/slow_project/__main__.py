"""One dynamic resource whose create sleeps for SLOW_SECONDS."""

import os
import time

import pulumi
from pulumi import dynamic


class _Slow(dynamic.ResourceProvider):
    def create(self, props: dict) -> dynamic.CreateResult:
        time.sleep(float(props["seconds"]))
        return dynamic.CreateResult(id_="slow", outs=props)


class Slow(dynamic.Resource):
    def __init__(self, name: str, seconds: float) -> None:
        super().__init__(_Slow(), name, {"seconds": seconds})


Slow("slow", float(os.environ.get("SLOW_SECONDS", "20")))
pulumi.export("done", True)
