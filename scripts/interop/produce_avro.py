#!/usr/bin/env python3
"""Interop peer: serialize one record with Confluent's AvroSerializer and produce it.

The serializer registers nothing (auto.register.schemas=False) and uses the latest
version registered under <topic>-value (use.latest.version=True), exactly like a
source system's producer against a governed registry.

Usage: produce_avro.py --bootstrap HOST:PORT --registry URL --topic T --key K --value-file F.json
The value file holds the record in the JSON conventions of avro_json.py.
Exit status 0 once the broker acknowledged the record; one error line otherwise.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.schema_registry import SchemaRegistryClient  # noqa: E402
from confluent_kafka.schema_registry.avro import AvroSerializer  # noqa: E402
from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: E402

import avro_json  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    p.add_argument("--registry", required=True, help="schema registry URL")
    p.add_argument("--topic", required=True, help="physical topic (prefix included)")
    p.add_argument("--key", required=True, help="record key (UTF-8)")
    p.add_argument("--value-file", required=True, help="record as JSON")
    a = p.parse_args()

    with open(a.value_file, encoding="utf-8") as f:
        value = json.load(f)
    sr = SchemaRegistryClient({"url": a.registry})
    latest = sr.get_latest_version(a.topic + "-value")
    schema = json.loads(latest.schema.schema_str)
    record = avro_json.from_json(schema, value, avro_json.collect_names(schema))

    ser = AvroSerializer(sr, None, conf={"auto.register.schemas": False, "use.latest.version": True})
    payload = ser(record, SerializationContext(a.topic, MessageField.VALUE))

    errors = []
    prod = Producer({"bootstrap.servers": a.bootstrap, "enable.idempotence": True, "acks": "all"})
    prod.produce(a.topic, key=a.key.encode(), value=payload,
                 on_delivery=lambda err, msg: errors.append(err) if err else None)
    left = prod.flush(30)
    if left or errors:
        print("produce_avro: delivery failed: %s" % (errors or "timeout"), file=sys.stderr)
        return 1
    print(json.dumps({"topic": a.topic, "schema_id": latest.schema_id, "version": latest.version}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # one clear line for the Go test's failure message
        print("produce_avro: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
