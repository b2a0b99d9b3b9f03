package io.isthmus.examples;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.avro.Schema;

/**
 * The two calls a producer needs from a Confluent-compatible schema registry,
 * over its REST API: the latest schema registered under a subject, with its id.
 * Producers never register schemas: `isthmus schemas apply` does, under
 * compatibility rules.
 */
public final class RegistryClient {
    /** A registered schema and its global id. */
    public record Registered(int id, int version, Schema schema) {}

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final ObjectMapper json = new ObjectMapper();
    private final String base;

    public RegistryClient(String baseUrl) {
        this.base = baseUrl.replaceAll("/+$", "");
    }

    /** GET /subjects/{subject}/versions/latest. */
    public Registered latest(String subject) throws IOException, InterruptedException {
        String path = "/subjects/" + URLEncoder.encode(subject, StandardCharsets.UTF_8) + "/versions/latest";
        HttpRequest req = HttpRequest.newBuilder(URI.create(base + path))
                .header("Accept", "application/vnd.schemaregistry.v1+json")
                .timeout(Duration.ofSeconds(10))
                .GET().build();
        HttpResponse<String> resp = http.send(req, HttpResponse.BodyHandlers.ofString());
        if (resp.statusCode() != 200) {
            throw new IOException("schema registry " + path + ": HTTP " + resp.statusCode() + ": " + resp.body()
                    + (resp.statusCode() == 404 ? " (is the schema applied? isthmus schemas apply)" : ""));
        }
        JsonNode body = json.readTree(resp.body());
        Schema schema = new Schema.Parser().parse(body.get("schema").asText());
        return new Registered(body.get("id").asInt(), body.get("version").asInt(), schema);
    }
}
