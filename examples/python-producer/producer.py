#!/usr/bin/env python3
"""Example source-system producer: CRM accounts and ERP customers into Isthmus.

A CRM adapter produces crm.account.v1 and an ERP adapter erp.customer.v1 with
the settings a production producer should use (docs/producing.md):

  - values Avro in the Confluent wire format, serialized with Confluent's
    AvroSerializer against the schema registered under "<topic>-value"
    (use.latest.version, never auto-registering: schemas are governed by
    `isthmus schemas apply`, not by producers);
  - key = the entity's business id as UTF-8 (the catalog's key_fields), so one
    entity's changes stay in order on one partition;
  - partitioner murmur2_random: the same partition for a key as Kafka's Java
    client (librdkafka's default, consistent_random, hashes differently);
  - enable.idempotence (acks=all, retries without duplicates or reordering);
  - a correlation-id header repeating metadata.correlation_id.

Usage:
  producer.py --bootstrap HOST:PORT --registry URL [--prefix P] [--run-id ID] [--count N]

Prints one JSON line per acknowledged record: topic, key, partition, offset.
Exit status 0 when every record was acknowledged, 1 otherwise (one error line).
"""
import argparse
import datetime
import json
import sys
import uuid

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

PRODUCER_SETTINGS = {
    "enable.idempotence": True,        # implies acks=all and safe retries
    "acks": "all",
    "partitioner": "murmur2_random",   # Java-compatible key hashing
    "linger.ms": 20,                   # small batches, low latency
    "compression.type": "lz4",
    "delivery.timeout.ms": 120000,     # retry transient failures for 2 minutes
}


def metadata(correlation_id, source_system):
    return {
        "event_id": str(uuid.uuid4()),          # consumers dedupe by it
        "correlation_id": correlation_id,       # shared by every event of the flow
        "causation_id": None,                   # this event starts a flow
        "source_system": source_system,
        "occurred_at": datetime.datetime.now(datetime.timezone.utc),
    }


def crm_account(run_id, i):
    account_id = "%s-ACC-%d" % (run_id, i)
    now = datetime.datetime.now(datetime.timezone.utc)
    return account_id, {
        "metadata": metadata("%s-corr-acc-%d" % (run_id, i), "CRM"),
        "op": "UPSERT",
        "account_id": account_id,
        "name": "Example Manufacturing %s %d" % (run_id, i),
        "status": "CUSTOMER",
        "website": "example-%s-%d.example.com" % (run_id.lower(), i),
        "email": "ap@example-%s-%d.example.com" % (run_id.lower(), i),
        "industry": "Manufacturing",
        "territory": "EMEA",
        "billing_address": {"line1": "%d Harbour Road" % (i + 1), "line2": None, "city": "Hamburg",
                            "region": None, "postal_code": "20457", "country": "DE"},
        "source_updated_at": now,
    }


def erp_customer(run_id, i):
    erp_id = "%s-ERP-%d" % (run_id, i)
    now = datetime.datetime.now(datetime.timezone.utc)
    return erp_id, {
        "metadata": metadata("%s-corr-erp-%d" % (run_id, i), "ERP"),
        "op": "UPSERT",
        "erp_customer_id": erp_id,
        "name": "Example Wholesale %s %d GmbH" % (run_id, i),
        "legal_name": "Example Wholesale %s %d GmbH" % (run_id, i),
        "tax_exempt": False,
        "billing_address": {"line1": "%d Canal Street" % (i + 1), "line2": None, "city": "Bremen",
                            "region": None, "postal_code": "28195", "country": "DE"},
        "currency": "EUR",
        "payment_terms": "NET30",
        "credit_status": "ACTIVE",
        "credit_limit": {"amount_minor": 5_000_000, "currency": "EUR"},
        "source_updated_at": now,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    p.add_argument("--registry", required=True, help="schema registry URL")
    p.add_argument("--prefix", default="", help="ISTHMUS_TOPIC_PREFIX of the deployment")
    p.add_argument("--run-id", default="PY", help="prefix of the ids this run writes")
    p.add_argument("--count", type=int, default=3, help="records per topic")
    a = p.parse_args()

    registry = SchemaRegistryClient({"url": a.registry})
    serializer = AvroSerializer(registry, None, conf={"auto.register.schemas": False, "use.latest.version": True})
    producer = Producer(dict(PRODUCER_SETTINGS, **{"bootstrap.servers": a.bootstrap}))

    failures = []

    def delivered(err, msg):
        if err is not None:
            failures.append("%s key %s: %s" % (msg.topic(), msg.key(), err))
            return
        print(json.dumps({"topic": msg.topic(), "key": msg.key().decode(), "partition": msg.partition(),
                          "offset": msg.offset()}), flush=True)

    for topic, build in (("crm.account.v1", crm_account), ("erp.customer.v1", erp_customer)):
        physical = a.prefix + topic
        for i in range(a.count):
            key, value = build(a.run_id, i)
            payload = serializer(value, SerializationContext(physical, MessageField.VALUE))
            producer.produce(physical, key=key.encode(), value=payload,
                             headers=[("correlation-id", value["metadata"]["correlation_id"].encode())],
                             on_delivery=delivered)
            producer.poll(0)
    left = producer.flush(60)
    if left or failures:
        print("producer: %d not acknowledged: %s" % (left + len(failures), failures or "timeout"), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # one clear line
        print("producer: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
