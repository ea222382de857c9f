"""The peer in the benchmark: the small worker a team would write instead of provisioner.

TECS createUser only: consume a batch, POST each command's user to registerUser (256 in
flight), publish a reply per command, wait for the replies to be delivered, commit the batch.
confluent-kafka, asyncio and aiohttp; one JSON log line per command at INFO.
"""
import argparse
import asyncio
import base64
import json
import logging
import signal
import sys
import time

import aiohttp
from confluent_kafka import Consumer, Producer, TopicPartition


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--url", required=True, help="TECS base URL")
    parser.add_argument("--commands", default="provisioning.commands")
    parser.add_argument("--replies", default="provisioning.replies")
    parser.add_argument("--in-flight", type=int, default=256)
    args = parser.parse_args()
    # The benchmark stops its children with SIGTERM; a parent may hand the signal down blocked.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    asyncio.run(run(args))


async def run(args) -> None:
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap, "group.id": args.group, "enable.auto.commit": False,
        "auto.offset.reset": "earliest", "session.timeout.ms": 10000, "fetch.wait.max.ms": 5,
    })
    consumer.subscribe([args.commands])
    producer = Producer({"bootstrap.servers": args.bootstrap, "enable.idempotence": True, "linger.ms": 5})
    auth = "Basic " + base64.b64encode(b"User1:Password1").decode()
    slots = asyncio.Semaphore(args.in_flight)
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=args.in_flight)
    async with aiohttp.ClientSession(connector=connector, headers={"Authorization": auth}) as http:
        while True:
            batch = await loop.run_in_executor(None, consumer.consume, 500, 0.1)
            if not batch:
                continue
            delivered = []
            await asyncio.gather(*(handle(m, http, producer, slots, args, delivered) for m in batch if not m.error()))
            while len(delivered) < len(batch):
                producer.poll(0.01)
            offsets = {}
            for m in batch:
                offsets[(m.topic(), m.partition())] = max(offsets.get((m.topic(), m.partition()), -1), m.offset())
            consumer.commit(offsets=[TopicPartition(t, p, o + 1) for (t, p), o in offsets.items()], asynchronous=False)


async def handle(message, http, producer, slots, args, delivered) -> None:
    received = time.time()
    async with slots:
        try:
            command = json.loads(message.value())
            user = command["user"]
            body = {"login": user["userName"], "email": user.get("email"), "firstName": user.get("givenName"),
                    "lastName": user.get("familyName"), "password": command.get("password", "x")}
            async with http.post(args.url + "/registerUser", json=body) as response:
                answer = await response.json(content_type=None)
            ok = response.status == 200 and answer.get("responseCode") == 0
            reply = {"commandId": command.get("commandId"), "target": command.get("target"), "operation": "createUser",
                     "status": "succeeded" if ok else "failed", "vendorUserId": answer.get("consumerId"),
                     "durationMs": int((time.time() - received) * 1000)}
        except Exception as error:  # a bad command gets a failed reply, never a crash
            command = {}
            reply = {"status": "failed", "error": {"category": "invalid_command", "message": str(error)}}
    logging.info(json.dumps({"level": "info", "message": "command done", "commandId": reply.get("commandId"), "status": reply["status"]}))
    producer.produce(args.replies, key=message.key(), value=json.dumps(reply).encode(),
                     headers=[("commandId", str(reply.get("commandId", ""))), ("status", reply["status"])],
                     on_delivery=lambda error, _: delivered.append(error))
    producer.poll(0)


if __name__ == "__main__":
    main()
