#!/usr/bin/env python3
"""Example analyst consumer: three Isthmus streams into DuckDB, two business questions.

Reads mdm.customer.v1 (golden customers), orders.lifecycle.v1 (order saga
transitions) and billing.revenue-schedule.v1 (revenue per contract and month)
from the beginning to their current end, read_committed, decodes them with
Confluent's AvroDeserializer (writer schema from the registry by the id in
each record), and loads them into DuckDB as they arrived, with their Kafka
coordinates. Then, following docs/analytics.md:

  - duplicates are dropped by metadata.event_id (delivery is at-least-once
    for consumers that do not commit transactionally);
  - current state: the last record per key in partition offset order (one
    key's records are on one partition, in order): for golden customers a
    tombstone deletes the key and MERGED records point at their survivor
    (`version` grows with every change); for orders the last transition; for
    revenue the row with the highest
    amendment_sequence per contract and month (a restatement replaces the
    month).

Questions answered:
  1. Order book: orders per current state and currency, with their value, and
     the top customers (golden name) by value of orders not rejected/cancelled.
  2. Revenue: per month and currency, recognised, billed and the deferred
     balance at month end, over every contract's current schedule.

Usage:
  analyze.py --bootstrap HOST:PORT --registry URL [--prefix P] [--db FILE]
Prints one JSON document. --db keeps the DuckDB database for your own queries.
"""
import argparse
import json
import sys
import time
import uuid

import duckdb
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

TOPICS = ("mdm.customer.v1", "orders.lifecycle.v1", "billing.revenue-schedule.v1")


def read_to_end(bootstrap, topic, deserialize, timeout=120):
    """Every record of topic up to the end offsets it had when we started.

    Yields (partition, offset, key, value-dict-or-None)."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "analytics-example-" + uuid.uuid4().hex,  # never committed: a fresh read
        "enable.auto.commit": False,
        "isolation.level": "read_committed",  # never see aborted transactions
        "auto.offset.reset": "earliest",
    })
    try:
        md = consumer.list_topics(topic, timeout=10)
        if md.topics[topic].error is not None:
            raise RuntimeError("%s: %s" % (topic, md.topics[topic].error))
        parts = sorted(md.topics[topic].partitions)
        ends = {}
        for p in parts:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > 0:
                ends[p] = high
        if not ends:
            return
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        deadline = time.time() + timeout
        while ends:
            if time.time() > deadline:
                raise RuntimeError("%s: not at the end after %ds" % (topic, timeout))
            msg = consumer.poll(1.0)
            if msg is None:
                # What is left below an end offset can only be a transaction
                # marker: check where the consumer stands.
                for tp in consumer.position([TopicPartition(topic, p) for p in list(ends)]):
                    if tp.offset >= ends[tp.partition] or (tp.offset >= 0 and tp.offset + 1 >= ends[tp.partition]):
                        del ends[tp.partition]
                continue
            if msg.error():
                if msg.error().retriable():
                    continue
                raise RuntimeError(str(msg.error()))
            value = None
            if msg.value() is not None:
                value = deserialize(msg.value(), SerializationContext(msg.topic(), MessageField.VALUE))
            yield msg.partition(), msg.offset(), (msg.key() or b"").decode(), value
            if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                ends.pop(msg.partition(), None)
    finally:
        consumer.close()


SCHEMA = """
CREATE TABLE customers_raw (part INT, off BIGINT, golden_id VARCHAR, event_id VARCHAR, occurred_at TIMESTAMPTZ,
    version BIGINT, status VARCHAR, merged_into VARCHAR, name VARCHAR, country VARCHAR, industry VARCHAR,
    territory VARCHAR, credit_status VARCHAR, erp_customer_id VARCHAR, tombstone BOOLEAN);
CREATE TABLE orders_raw (part INT, off BIGINT, order_id VARCHAR, event_id VARCHAR, occurred_at TIMESTAMPTZ,
    state VARCHAR, previous_state VARCHAR, crm_account_id VARCHAR, golden_id VARCHAR, currency VARCHAR,
    total_minor BIGINT, reason VARCHAR);
CREATE TABLE revenue_raw (part INT, off BIGINT, contract_id VARCHAR, event_id VARCHAR, occurred_at TIMESTAMPTZ,
    amendment_sequence INT, period_start DATE, period_end DATE, currency VARCHAR, recognised_minor BIGINT,
    billed_minor BIGINT, deferred_minor BIGINT, contract_value_minor BIGINT);
"""

# Current state, deduplicated by event_id first.
VIEWS = """
CREATE VIEW customers AS
  SELECT * FROM (
    SELECT * FROM customers_raw QUALIFY row_number() OVER (PARTITION BY coalesce(event_id, 'tombstone:' || off || ':' || part) ORDER BY part, off) = 1
  ) QUALIFY row_number() OVER (PARTITION BY golden_id ORDER BY part DESC, off DESC) = 1;
CREATE VIEW active_customers AS SELECT * FROM customers WHERE NOT tombstone AND status = 'ACTIVE';
CREATE VIEW orders AS
  SELECT * FROM (
    SELECT * FROM orders_raw QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY part, off) = 1
  ) QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY part DESC, off DESC) = 1;
CREATE VIEW revenue AS
  SELECT * FROM (
    SELECT * FROM revenue_raw QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY part, off) = 1
  ) QUALIFY row_number() OVER (PARTITION BY contract_id, period_start ORDER BY amendment_sequence DESC, part DESC, off DESC) = 1;
"""

QUESTIONS = {
    "order_book_by_state": """
        SELECT state, currency, count(*) AS orders, sum(total_minor) AS value_minor
        FROM orders GROUP BY ALL ORDER BY state, currency""",
    "top_customers_by_open_and_won_order_value": """
        SELECT coalesce(c.name, o.crm_account_id) AS customer, o.currency,
               count(*) AS orders, sum(o.total_minor) AS value_minor
        FROM orders o LEFT JOIN active_customers c ON c.golden_id = o.golden_id
        WHERE o.state NOT IN ('REJECTED', 'CANCELLED', 'SUPERSEDED')
        GROUP BY ALL ORDER BY value_minor DESC, customer LIMIT 5""",
    "revenue_by_month": """
        SELECT strftime(period_start, '%Y-%m') AS month, currency,
               sum(recognised_minor) AS recognised_minor, sum(billed_minor) AS billed_minor,
               sum(deferred_minor) AS deferred_minor, count(DISTINCT contract_id) AS contracts
        FROM revenue GROUP BY ALL ORDER BY month, currency""",
}


def insert(con, table, rows):
    if rows:
        con.executemany("INSERT INTO %s VALUES (%s)" % (table, ",".join("?" * len(rows[0]))), rows)


def load(con, bootstrap, registry_url, prefix):
    registry = SchemaRegistryClient({"url": registry_url})
    deserialize = AvroDeserializer(registry)
    counts = {}
    rows = []
    for p, o, key, v in read_to_end(bootstrap, prefix + "mdm.customer.v1", deserialize):
        if v is None:
            rows.append((p, o, key, None, None, None, None, None, None, None, None, None, None, None, True))
            continue
        addr = v.get("billing_address") or {}
        rows.append((p, o, key, v["metadata"]["event_id"], v["metadata"]["occurred_at"], v["version"], v["status"],
                     v.get("merged_into"), v["name"], addr.get("country"), v.get("industry"), v.get("territory"),
                     v.get("credit_status"), v.get("erp_customer_id"), False))
    insert(con, "customers_raw", rows)
    counts["mdm.customer.v1"] = len(rows)

    rows = []
    for p, o, key, v in read_to_end(bootstrap, prefix + "orders.lifecycle.v1", deserialize):
        if v is None:
            continue
        rows.append((p, o, key, v["metadata"]["event_id"], v["metadata"]["occurred_at"], v["state"],
                     v.get("previous_state"), v["crm_account_id"], v.get("golden_id"), v["currency"],
                     v["total"]["amount_minor"], v.get("reason")))
    insert(con, "orders_raw", rows)
    counts["orders.lifecycle.v1"] = len(rows)

    rows = []
    for p, o, key, v in read_to_end(bootstrap, prefix + "billing.revenue-schedule.v1", deserialize):
        if v is None:
            continue
        rows.append((p, o, key, v["metadata"]["event_id"], v["metadata"]["occurred_at"], v["amendment_sequence"],
                     v["period_start"], v["period_end"], v["recognised"]["currency"], v["recognised"]["amount_minor"],
                     v["billed"]["amount_minor"], v["deferred_balance"]["amount_minor"], v["contract_value"]["amount_minor"]))
    insert(con, "revenue_raw", rows)
    counts["billing.revenue-schedule.v1"] = len(rows)
    return counts


def query(con, sql):
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    p.add_argument("--registry", required=True, help="schema registry URL")
    p.add_argument("--prefix", default="", help="ISTHMUS_TOPIC_PREFIX of the deployment")
    p.add_argument("--db", default=":memory:", help="DuckDB database file (default: in memory)")
    a = p.parse_args()

    con = duckdb.connect(a.db)
    con.execute("SET TimeZone = 'UTC'")
    for stmt in (SCHEMA + VIEWS).split(";"):
        if stmt.strip():
            con.execute(stmt)
    loaded = load(con, a.bootstrap, a.registry, a.prefix)
    out = {
        "loaded": loaded,
        "current": {
            "golden_customers_active": query(con, "SELECT count(*) AS n FROM active_customers")[0]["n"],
            "orders": query(con, "SELECT count(*) AS n FROM orders")[0]["n"],
            "contract_months": query(con, "SELECT count(*) AS n FROM revenue")[0]["n"],
            "duplicates_dropped": query(con, """SELECT
                (SELECT count(*) - count(DISTINCT event_id) FROM orders_raw) +
                (SELECT count(*) - count(DISTINCT event_id) FROM revenue_raw) +
                (SELECT count(event_id) - count(DISTINCT event_id) FROM customers_raw) AS n""")[0]["n"],
        },
        "questions": {name: query(con, sql) for name, sql in QUESTIONS.items()},
    }
    print(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # one clear line
        print("analyze: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
