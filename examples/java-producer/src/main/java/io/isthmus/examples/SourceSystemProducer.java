package io.isthmus.examples;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.Future;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.generic.GenericRecordBuilder;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Example source-system producer: a CRM adapter writing crm.account.v1 and an
 * ERP adapter writing erp.customer.v1, with the settings a production producer
 * should use (docs/producing.md): idempotence with acks=all, the Java client's
 * default partitioner (murmur2 of the key, what Isthmus expects), the entity's
 * business id as the UTF-8 key, Avro values in the Confluent wire format with
 * the schema registered under "&lt;topic&gt;-value", and a correlation-id
 * header.
 *
 * <p>Usage: SourceSystemProducer --bootstrap HOST:PORT --registry URL [--prefix P]
 * [--run-id ID] [--count N]. Prints one JSON line per acknowledged record.
 */
public final class SourceSystemProducer {

    public static void main(String[] argv) {
        try {
            System.exit(run(Args.parse(argv)));
        } catch (Exception e) {
            System.err.println("producer: " + e.getClass().getSimpleName() + ": " + e.getMessage());
            System.exit(1);
        }
    }

    record Args(String bootstrap, String registry, String prefix, String runId, int count) {
        static Args parse(String[] a) {
            String bootstrap = null, registry = null, prefix = "", runId = "JAVA";
            int count = 3;
            for (int i = 0; i < a.length; i++) {
                String v = i + 1 < a.length ? a[i + 1] : null;
                switch (a[i]) {
                    case "--bootstrap" -> { bootstrap = v; i++; }
                    case "--registry" -> { registry = v; i++; }
                    case "--prefix" -> { prefix = v; i++; }
                    case "--run-id" -> { runId = v; i++; }
                    case "--count" -> { count = Integer.parseInt(v); i++; }
                    default -> throw new IllegalArgumentException("unknown argument " + a[i]);
                }
            }
            if (bootstrap == null || registry == null) {
                throw new IllegalArgumentException("--bootstrap and --registry are required");
            }
            return new Args(bootstrap, registry, prefix, runId, count);
        }
    }

    static Properties producerSettings(String bootstrap) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true); // no duplicates, no reordering on retry
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 5); // the most idempotence allows
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 120_000); // retry transient failures for 2 minutes
        p.put(ProducerConfig.LINGER_MS_CONFIG, 20);
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4");
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "example-java-source-producer");
        // No partitioner.class: the default hashes the key with murmur2, which
        // is what Isthmus's stateful services expect.
        return p;
    }

    static int run(Args a) throws Exception {
        RegistryClient registry = new RegistryClient(a.registry());
        ConfluentWireSerializer values = new ConfluentWireSerializer();
        String accounts = a.prefix() + "crm.account.v1";
        String customers = a.prefix() + "erp.customer.v1";
        RegistryClient.Registered accountSchema = registry.latest(accounts + "-value");
        RegistryClient.Registered customerSchema = registry.latest(customers + "-value");
        values.register(accountSchema.schema(), accountSchema.id());
        values.register(customerSchema.schema(), customerSchema.id());

        List<Future<RecordMetadata>> sent = new ArrayList<>();
        List<String> keys = new ArrayList<>();
        try (KafkaProducer<String, GenericRecord> producer =
                     new KafkaProducer<>(producerSettings(a.bootstrap()), new StringSerializer(), values)) {
            for (int i = 0; i < a.count(); i++) {
                GenericRecord acc = crmAccount(accountSchema.schema(), a.runId(), i);
                sent.add(send(producer, accounts, acc.get("account_id").toString(), acc));
                keys.add(acc.get("account_id").toString());
            }
            for (int i = 0; i < a.count(); i++) {
                GenericRecord cust = erpCustomer(customerSchema.schema(), a.runId(), i);
                sent.add(send(producer, customers, cust.get("erp_customer_id").toString(), cust));
                keys.add(cust.get("erp_customer_id").toString());
            }
            producer.flush();
            for (int i = 0; i < sent.size(); i++) {
                RecordMetadata md = sent.get(i).get(); // throws when the record was not acknowledged
                System.out.printf("{\"topic\":\"%s\",\"key\":\"%s\",\"partition\":%d,\"offset\":%d}%n",
                        md.topic(), keys.get(i), md.partition(), md.offset());
            }
        }
        return 0;
    }

    static Future<RecordMetadata> send(KafkaProducer<String, GenericRecord> producer, String topic, String key, GenericRecord value) {
        ProducerRecord<String, GenericRecord> rec = new ProducerRecord<>(topic, key, value);
        GenericRecord md = (GenericRecord) value.get("metadata");
        rec.headers().add("correlation-id", md.get("correlation_id").toString().getBytes(StandardCharsets.UTF_8));
        return producer.send(rec);
    }

    static GenericRecord metadata(Schema recordSchema, String correlationId, String sourceSystem) {
        Schema md = recordSchema.getField("metadata").schema();
        return new GenericRecordBuilder(md)
                .set("event_id", UUID.randomUUID().toString()) // consumers dedupe by it
                .set("correlation_id", correlationId)
                .set("causation_id", null)
                .set("source_system", new GenericData.EnumSymbol(md.getField("source_system").schema(), sourceSystem))
                .set("occurred_at", Instant.now().toEpochMilli()) // timestamp-millis
                .build();
    }

    /** The non-null branch of a nullable union field. */
    static Schema branch(Schema record, String field) {
        Schema s = record.getField(field).schema();
        if (s.getType() != Schema.Type.UNION) {
            return s;
        }
        return s.getTypes().stream().filter(t -> t.getType() != Schema.Type.NULL).findFirst().orElseThrow();
    }

    static GenericRecord address(Schema record, String field, String line1, String city, String postal) {
        return new GenericRecordBuilder(branch(record, field))
                .set("line1", line1).set("city", city).set("postal_code", postal).set("country", "DE")
                .build();
    }

    static GenericData.EnumSymbol symbol(Schema record, String field, String value) {
        return new GenericData.EnumSymbol(record.getField(field).schema(), value);
    }

    static GenericRecord crmAccount(Schema s, String runId, int i) {
        String id = runId + "-ACC-" + i;
        String domain = "example-" + runId.toLowerCase() + "-" + i + ".example.com";
        return new GenericRecordBuilder(s) // fields not set take their schema default
                .set("metadata", metadata(s, runId + "-corr-acc-" + i, "CRM"))
                .set("op", symbol(s, "op", "UPSERT"))
                .set("account_id", id)
                .set("name", "Example Machinery " + runId + " " + i)
                .set("status", symbol(s, "status", "CUSTOMER"))
                .set("website", domain)
                .set("email", "ap@" + domain)
                .set("industry", "Manufacturing")
                .set("territory", "EMEA")
                .set("billing_address", address(s, "billing_address", (i + 1) + " Dock Street", "Hamburg", "20457"))
                .set("source_updated_at", Instant.now().toEpochMilli())
                .build();
    }

    static GenericRecord erpCustomer(Schema s, String runId, int i) {
        String id = runId + "-ERP-" + i;
        Schema money = branch(s, "credit_limit");
        return new GenericRecordBuilder(s)
                .set("metadata", metadata(s, runId + "-corr-erp-" + i, "ERP"))
                .set("op", symbol(s, "op", "UPSERT"))
                .set("erp_customer_id", id)
                .set("name", "Example Tools " + runId + " " + i + " GmbH")
                .set("legal_name", "Example Tools " + runId + " " + i + " GmbH")
                .set("billing_address", address(s, "billing_address", (i + 1) + " Mill Lane", "Bremen", "28195"))
                .set("currency", "EUR")
                .set("payment_terms", "NET30")
                .set("credit_status", symbol(s, "credit_status", "ACTIVE"))
                .set("credit_limit", new GenericRecordBuilder(money).set("amount_minor", 5_000_000L).set("currency", "EUR").build())
                .set("source_updated_at", Instant.now().toEpochMilli())
                .build();
    }

    private SourceSystemProducer() {}

}
