#!/usr/bin/env python3
"""Interop peer: consume Avro records with Confluent's AvroDeserializer and print them as JSON.

read_committed, from the earliest offset, one JSON object per line:
  {"topic": T, "partition": P, "offset": O, "key": K, "schema_id": ID, "value": {...}}
with values in the JSON conventions of avro_json.py (written with the writer schema).

Usage: consume_avro.py --bootstrap HOST:PORT --registry URL --topic T [--topic T2 ...] --count N [--timeout S]
Exits 0 after N records, 1 (one error line) on timeout or error.
"""
import argparse
import json
import os
import struct
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from confluent_kafka import Consumer  # noqa: E402
from confluent_kafka.schema_registry import SchemaRegistryClient  # noqa: E402
from confluent_kafka.schema_registry.avro import AvroDeserializer  # noqa: E402
from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: E402

import avro_json  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--registry", required=True)
    p.add_argument("--topic", action="append", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--timeout", type=float, default=60)
    a = p.parse_args()

    sr = SchemaRegistryClient({"url": a.registry})
    de = AvroDeserializer(sr)
    cons = Consumer({
        "bootstrap.servers": a.bootstrap,
        "group.id": "interop-" + uuid.uuid4().hex,
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    cons.subscribe(a.topic)
    deadline = time.time() + a.timeout
    seen = 0
    schemas = {}
    try:
        while seen < a.count:
            if time.time() > deadline:
                print("consume_avro: timeout after %d of %d records" % (seen, a.count), file=sys.stderr)
                return 1
            msg = cons.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                if msg.error().retriable() or "UNKNOWN_TOPIC" in msg.error().name():
                    continue
                raise RuntimeError(str(msg.error()))
            raw = msg.value()
            schema_id = struct.unpack(">bI", raw[:5])[1]
            value = de(raw, SerializationContext(msg.topic(), MessageField.VALUE))
            if schema_id not in schemas:
                schemas[schema_id] = json.loads(sr.get_schema(schema_id).schema_str)
            schema = schemas[schema_id]
            print(json.dumps({
                "topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset(),
                "key": msg.key().decode() if msg.key() is not None else None,
                "schema_id": schema_id,
                "value": avro_json.to_json(schema, value, avro_json.collect_names(schema)),
            }, sort_keys=True), flush=True)
            seen += 1
    finally:
        cons.close()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:
        print("consume_avro: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
