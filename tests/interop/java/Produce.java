import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * COUNT keyed records (key "k-i", value "java-i" padded to VALUE_BYTES, header i=i) sent
 * asynchronously with the producer's defaults unless overridden; prints the effective settings
 * that matter, then one summary line: acked count, errors, offsets per partition.
 */
final class Produce {
    static void run(String[] a) throws Exception {
        String bootstrap = a[0], topic = a[1];
        int count = Integer.parseInt(a[2]), valueBytes = Integer.parseInt(a[3]);
        Properties p = Driver.props(a, 4);
        Integer partition = p.containsKey("driver.partition")
                ? Integer.valueOf((String) p.remove("driver.partition")) : null;
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        ProducerConfig effective = new ProducerConfig(p);
        Driver.emit(Driver.obj(
                "enable.idempotence", effective.getBoolean(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG),
                "acks", effective.getString(ProducerConfig.ACKS_CONFIG),
                "compression.type", effective.getString(ProducerConfig.COMPRESSION_TYPE_CONFIG),
                "batch.size", effective.getInt(ProducerConfig.BATCH_SIZE_CONFIG),
                "linger.ms", effective.getLong(ProducerConfig.LINGER_MS_CONFIG),
                "max.in.flight.requests.per.connection",
                effective.getInt(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION)));

        AtomicInteger acked = new AtomicInteger();
        List<Object> errors = new ArrayList<>();
        Map<Integer, List<Long>> offsets = new TreeMap<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            for (int i = 0; i < count; i++) {
                StringBuilder v = new StringBuilder("java-" + i);
                while (v.length() < valueBytes) v.append('.');
                ProducerRecord<byte[], byte[]> r = new ProducerRecord<>(topic, partition,
                        ("k-" + i).getBytes(StandardCharsets.UTF_8), v.toString().getBytes(StandardCharsets.UTF_8));
                r.headers().add("i", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
                producer.send(r, (md, e) -> {
                    synchronized (offsets) {
                        if (e != null) {
                            if (errors.size() < 5) errors.add(Driver.failure(e));
                        } else {
                            acked.incrementAndGet();
                            offsets.computeIfAbsent(md.partition(), k -> new ArrayList<>()).add(md.offset());
                        }
                    }
                });
            }
            producer.flush();
        }
        Map<String, Object> ranges = new TreeMap<>();
        synchronized (offsets) {
            for (Map.Entry<Integer, List<Long>> e : offsets.entrySet()) {
                List<Long> os = e.getValue();
                os.sort(null);
                boolean contiguous = os.get(os.size() - 1) - os.get(0) + 1 == os.size();
                ranges.put(e.getKey().toString(), Driver.obj("first", os.get(0), "last", os.get(os.size() - 1),
                        "count", os.size(), "contiguous", contiguous));
            }
            Driver.emit(Driver.obj("acked", acked.get(), "errors", errors, "partitions", ranges));
        }
    }
}
