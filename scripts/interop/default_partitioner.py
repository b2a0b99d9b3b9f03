#!/usr/bin/env python3
"""Interop peer: a CRM and an ERP source system on Confluent's Python client with its DEFAULT partitioner.

librdkafka's default partitioner (consistent_random, a CRC32 of the key) puts
most keys on another partition than Kafka's Java client (murmur2) would; the
suite must process every record anyway. Nothing here sets `partitioner`.

Usage:
  default_partitioner.py crm      --bootstrap B --registry R --prefix P --run-id ID --count N
  default_partitioner.py statuses --bootstrap B --registry R --prefix P --orders-file F

crm       N CRM accounts (crm.account.v1), N accepted quotes (crm.quote.v1) and
          N new subscription deals (crm.deal.v1) for those accounts.
statuses  the ERP status updates listed in F (a JSON array of objects with
          order_id, status and optionally erp_order_id, invoice_id) on
          erp.order-status.v1, keyed by order id.

Prints one JSON line per acknowledged record: topic, key, partition, offset,
event_id. Exit status 0 when every record was acknowledged; one error line
and 1 otherwise.
"""
import argparse
import datetime
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.schema_registry import SchemaRegistryClient  # noqa: E402
from confluent_kafka.schema_registry.avro import AvroSerializer  # noqa: E402
from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: E402

# A production producer's settings, minus `partitioner`: librdkafka's default.
SETTINGS = {"enable.idempotence": True, "acks": "all", "linger.ms": 20, "delivery.timeout.ms": 120000}


def meta(correlation, source):
    ts = datetime.datetime.now(datetime.timezone.utc)
    return {"event_id": str(uuid.uuid4()), "correlation_id": correlation, "causation_id": None,
            "source_system": source, "occurred_at": ts}


def usd(minor):
    return {"amount_minor": minor, "currency": "USD"}


def account(run, i):
    acc = "%s-ACC-%d" % (run, i)
    addr = {"line1": "%d Lake Street" % (i + 1), "line2": None, "city": "Chicago", "region": None,
            "postal_code": "60601", "country": "US"}
    return acc, {"metadata": meta("%s-corr-%s" % (run, acc), "CRM"), "op": "UPSERT", "account_id": acc,
                 "name": "Default Partitioner %s Works %d" % (run, i), "legal_name": None, "parent_account_id": None,
                 "erp_customer_id": None, "status": "CUSTOMER", "website": "dp-%s-%d.example" % (run.lower(), i),
                 "phone": None, "email": "ap@dp-%s-%d.example" % (run.lower(), i), "industry": "Manufacturing",
                 "owner_id": None, "territory": "NA-US", "tax_id": None, "billing_address": addr,
                 "shipping_address": addr, "source_updated_at": datetime.datetime.now(datetime.timezone.utc)}


def quote(run, i, acc):
    qid = "%s-Q-%d" % (run, i)
    unit = 125000  # PUMP-100, NA list price in US cents (the simulator's price book)
    line = {"line_number": 10, "sku": "PUMP-100", "description": "Centrifugal pump 100 l/min", "quantity": 2,
            "list_price": usd(unit), "unit_price": usd(unit), "discount_bps": 0, "line_total": usd(2 * unit),
            "ship_to_country": "US"}
    today = datetime.date.today()
    return qid, {"metadata": meta("%s-corr-%s" % (run, qid), "CRM"), "quote_id": qid, "version": 1,
                 "status": "ACCEPTED", "opportunity_id": None, "sold_to_account_id": acc, "ship_to_account_id": None,
                 "currency": "USD", "region": "NA", "contract_id": None, "payment_terms": "NET30",
                 "customer_po": None, "requested_delivery_date": today + datetime.timedelta(days=14),
                 "valid_until": today + datetime.timedelta(days=30),
                 "accepted_at": datetime.datetime.now(datetime.timezone.utc), "lines": [line], "total": usd(2 * unit)}


def deal(run, i, acc):
    contract = "%s-CT-%d" % (run, i)
    start = datetime.date.today()
    end = start.replace(year=start.year + 1) - datetime.timedelta(days=1)
    line = {"line_number": 1, "sku": "SEAT-PRO", "description": "Professional seat (per user, monthly)",
            "quantity": 10, "unit_price": usd(4900), "term_months": 12}
    return contract, {"metadata": meta("%s-corr-%s" % (run, contract), "CRM"), "deal_id": "DL-%s-0" % contract,
                      "contract_id": contract, "amendment_sequence": 0, "deal_type": "NEW", "amendment_kind": None,
                      "account_id": acc, "currency": "USD", "start_date": start, "end_date": end,
                      "effective_date": None, "billing_frequency": "MONTHLY", "payment_terms": "NET30",
                      "closed_at": datetime.datetime.now(datetime.timezone.utc), "lines": [line]}


def status(o):
    return o["order_id"], {"metadata": meta("erp-%s" % o["order_id"], "ERP"), "order_id": o["order_id"],
                           "command_id": None, "erp_order_id": o.get("erp_order_id"), "status": o["status"],
                           "lines": [], "messages": [], "total": None, "invoice_id": o.get("invoice_id"),
                           "shipment_id": None}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["crm", "statuses"])
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--registry", required=True)
    p.add_argument("--prefix", default="")
    p.add_argument("--run-id", default="DP")
    p.add_argument("--count", type=int, default=5)
    p.add_argument("--orders-file")
    a = p.parse_args()

    records = []  # (logical topic, key, value)
    if a.what == "crm":
        for i in range(a.count):
            acc, v = account(a.run_id, i)
            records.append(("crm.account.v1", acc, v))
        for i in range(a.count):
            acc = "%s-ACC-%d" % (a.run_id, i)
            records.append(("crm.quote.v1",) + quote(a.run_id, i, acc))
            records.append(("crm.deal.v1",) + deal(a.run_id, i, acc))
    else:
        with open(a.orders_file, encoding="utf-8") as f:
            for o in json.load(f):
                records.append(("erp.order-status.v1",) + status(o))

    registry = SchemaRegistryClient({"url": a.registry})
    serializer = AvroSerializer(registry, None, conf={"auto.register.schemas": False, "use.latest.version": True})
    producer = Producer(dict(SETTINGS, **{"bootstrap.servers": a.bootstrap}))
    failures = []

    def delivered(event_id):
        def cb(err, msg):
            if err is not None:
                failures.append("%s key %s: %s" % (msg.topic(), msg.key(), err))
                return
            print(json.dumps({"topic": msg.topic(), "key": msg.key().decode(), "partition": msg.partition(),
                              "offset": msg.offset(), "event_id": event_id}), flush=True)
        return cb

    for topic, key, value in records:
        physical = a.prefix + topic
        payload = serializer(value, SerializationContext(physical, MessageField.VALUE))
        producer.produce(physical, key=key.encode(), value=payload,
                         headers=[("correlation-id", value["metadata"]["correlation_id"].encode())],
                         on_delivery=delivered(value["metadata"]["event_id"]))
        producer.poll(0)
    left = producer.flush(60)
    if left or failures:
        print("default_partitioner: %d not acknowledged: %s" % (left + len(failures), failures or "timeout"),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # one clear line
        print("default_partitioner: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
