"""What a message costs through FastStream, against a raw nats-py callback.

Side by side in one run on one nats-server, medians of the repetitions:

* throughput: 5,000 ``live.chat`` pieces published back to back, received by
  (a) a raw nats-py callback that parses the JSON, (b) a FastStream subscriber
  typed by the ``LivePiece`` model with the services' coroutine decoder, and
  (c) the same with a plain-function decoder (which FastStream runs in a
  worker thread: the reason the services' decoders are coroutines);
* cold latency: one event every 10 ms into a stream, received by an ordered
  push consumer, (a) raw and (b) FastStream, from the publish to the handler.

ADR 0016 cites these numbers. Usage:
python tests/benchmarks/bench_faststream.py [--repeats R] [--write FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nats
from faststream.middlewares import AckPolicy
from faststream.nats import JStream
from faststream.nats.message import NatsMessage
from nats.js.api import ConsumerConfig, DeliverPolicy, StreamConfig
from rich.console import Console

from continuum import jsoninput
from continuum.chat.signals import LivePiece, encode
from continuum.node.embedded import NatsServer
from continuum.node.ports import free_port
from continuum.runtime.broker import create_broker
from continuum.runtime.replies import decode_request, raw_body

sys.path.insert(0, str(Path(__file__).parent))
from bench_common import write_section

PIECES = 5_000
EVENTS = 300
console = Console()


def _sync_decoder(msg: NatsMessage) -> Any:
    return jsoninput.loads(msg.body or b"{}")


async def _throughput(url: str, mode: str) -> float:
    """Microseconds per piece, publish of the first to receipt of the last."""
    publisher = await nats.connect(url)
    piece = encode(LivePiece(kind="delta", turn_id="t", persona_id="p", message_id="m", seq=1))
    got, done = 0, asyncio.Event()

    def count() -> None:
        nonlocal got
        got += 1
        if got == PIECES:
            done.set()

    if mode == "raw":
        receiver = await nats.connect(url)

        async def callback(msg: Any) -> None:
            LivePiece.model_validate(json.loads(msg.data))
            count()

        await receiver.subscribe("live.chat.>", cb=callback)
        await receiver.flush()
        closing: Any = receiver.close
    else:
        broker = create_broker(url, "bench")
        await broker.start()
        decoder = decode_request if mode == "faststream" else _sync_decoder
        subscriber = broker.subscriber("live.chat.>", decoder=decoder)

        async def handler(body: LivePiece) -> None:
            count()

        subscriber(handler)
        await subscriber.start()
        await broker.connection.flush()
        closing = broker.stop
    started = time.perf_counter()
    for _ in range(PIECES):
        await publisher.publish("live.chat.room", piece)
    await publisher.flush()
    await asyncio.wait_for(done.wait(), 120)
    elapsed = time.perf_counter() - started
    await closing()
    await publisher.close()
    return elapsed / PIECES * 1e6


async def _latency(url: str, mode: str, stream: str) -> float:
    """Median milliseconds from a core publish into the stream to the handler."""
    publisher = await nats.connect(url)
    await publisher.jetstream().add_stream(StreamConfig(name=stream, subjects=[f"{stream}.>"]))
    sent: dict[int, float] = {}
    seen: list[float] = []
    if mode == "raw":
        receiver = await nats.connect(url)

        async def callback(msg: Any) -> None:
            seen.append(time.perf_counter() - sent[int(msg.data)])

        await receiver.jetstream().subscribe(
            f"{stream}.>",
            stream=stream,
            cb=callback,
            ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
        )
        closing: Any = receiver.close
    else:
        broker = create_broker(url, "bench")
        await broker.start()
        subscriber = broker.subscriber(
            f"{stream}.>",
            stream=JStream(stream, declare=False),
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
            ack_policy=AckPolicy.MANUAL,
            decoder=raw_body,
        )

        async def handler(body: bytes) -> None:
            seen.append(time.perf_counter() - sent[int(body)])

        subscriber(handler)
        await subscriber.start()
        closing = broker.stop
    await asyncio.sleep(0.3)
    for i in range(EVENTS):
        sent[i] = time.perf_counter()
        await publisher.publish(f"{stream}.x", str(i).encode())
        await publisher.flush()
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)
    await closing()
    await publisher.close()
    return statistics.median(seen) * 1e3


async def main(repeats: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {
        k: [] for k in ("raw", "faststream", "thread", "lat_raw", "lat_faststream")
    }
    with tempfile.TemporaryDirectory() as root:
        server = NatsServer(Path(root), port=free_port(), server_name="bench")
        server.start()
        try:
            for repeat in range(repeats):
                for mode in ("raw", "faststream", "thread"):
                    results[mode].append(await _throughput(server.url, mode))
                for mode in ("raw", "faststream"):
                    stream = f"LAT_{mode.upper()}_{repeat}"
                    results[f"lat_{mode}"].append(await _latency(server.url, mode, stream))
                console.print(f"repetition {repeat + 1} of {repeats}")
        finally:
            server.stop()
    return results


def render(results: dict[str, list[float]], repeats: int) -> str:
    med = {k: statistics.median(v) for k, v in results.items()}
    return "\n".join(
        [
            "## FastStream: what a message costs",
            "",
            f"Command: `make bench`; medians of {repeats} repetitions, one nats-server.",
            "",
            f"| receiver | us per piece ({PIECES:,} back to back) | / raw |",
            "|---|---:|---:|",
            f"| (a) raw nats-py callback, JSON + model | {med['raw']:.1f} | 1.0 |",
            f"| (b) FastStream subscriber, coroutine decoder | {med['faststream']:.1f} | "
            f"{med['faststream'] / med['raw']:.1f} |",
            f"| (c) FastStream subscriber, plain-function decoder | {med['thread']:.1f} | "
            f"{med['thread'] / med['raw']:.1f} |",
            "",
            f"| ordered push consumer | publish -> handler p50, ms ({EVENTS} events 10 ms apart) |",
            "|---|---:|",
            f"| (a) raw nats-py callback | {med['lat_raw']:.3f} |",
            f"| (b) FastStream subscriber | {med['lat_faststream']:.3f} |",
            "",
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", type=Path, help="Markdown file to write the table into.")
    args = parser.parse_args()
    section = render(asyncio.run(main(args.repeats)), args.repeats)
    console.print(section)
    if args.write:
        write_section(args.write, "faststream", section)
        console.print(f"written to {args.write}")
