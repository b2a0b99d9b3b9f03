package io.isthmus.examples;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Kafka value serializer writing the Confluent wire format: magic byte 0, the
 * schema id as 4 bytes big-endian, then the Avro binary body. The record must
 * be built with a schema fetched from the registry (its id is known); the id
 * is looked up per schema once.
 */
public final class ConfluentWireSerializer implements Serializer<GenericRecord> {
    private static final byte MAGIC = 0;

    private final Map<Schema, Integer> ids = new ConcurrentHashMap<>();

    /** Remembers the registry id of a schema (from {@link RegistryClient#latest}). */
    public void register(Schema schema, int id) {
        ids.put(schema, id);
    }

    @Override
    public byte[] serialize(String topic, GenericRecord record) {
        if (record == null) {
            return null; // a tombstone
        }
        Integer id = ids.get(record.getSchema());
        if (id == null) {
            throw new SerializationException("no registry id for schema " + record.getSchema().getFullName()
                    + " (build records with a schema from RegistryClient.latest)");
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        out.write(MAGIC);
        out.writeBytes(ByteBuffer.allocate(4).putInt(id).array());
        BinaryEncoder enc = EncoderFactory.get().directBinaryEncoder(out, null);
        try {
            new GenericDatumWriter<GenericRecord>(record.getSchema()).write(record, enc);
            enc.flush();
        } catch (IOException | RuntimeException e) {
            throw new SerializationException("encode " + record.getSchema().getFullName() + " for " + topic + ": " + e.getMessage(), e);
        }
        return out.toByteArray();
    }
}
