"""Measure how often a no_wait pull that races its consumer's deletion gets no reply at all.

    python scripts/pull_delete_race.py [rounds]

The reader (``reader._ConsumerFetcher.next_chunk``) recreates its consumer when a pull goes
unanswered, as it does for a 409 Consumer Deleted; this script is the measurement behind
that (2 and 3 of 150 pulls unanswered in two runs against nats-server 2.15.1 on a loaded
2-core machine).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile

import nats

from jsdata.server import EmbeddedServer


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as store, EmbeddedServer(store_dir=store) as srv:
        nc = await nats.connect(srv.url)
        js = nc.jetstream()
        await js.add_stream(name="E", subjects=["e.>"])
        for _ in range(100):
            await js.publish("e.x", b"x")
        lost = 0
        for i in range(rounds):
            name = f"c{i}"
            cfg = {"stream_name": "E", "config": {"name": name, "ack_policy": "none"}}
            await nc.request(f"$JS.API.CONSUMER.CREATE.E.{name}", json.dumps(cfg).encode())
            inbox = nc.new_inbox()
            sub = await nc.subscribe(inbox)
            delete = asyncio.ensure_future(
                nc.request(f"$JS.API.CONSUMER.DELETE.E.{name}", b"", timeout=5))
            await asyncio.sleep(0.0005 * (i % 5))  # land the pull around the delete
            await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.E.{name}",
                             b'{"batch":10,"no_wait":true}', reply=inbox)
            await delete
            try:
                await sub.next_msg(timeout=2)
            except nats.errors.TimeoutError:
                lost += 1
            await sub.unsubscribe()
        print(f"{lost} of {rounds} pulls got no reply")
        await nc.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 150))
