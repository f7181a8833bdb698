import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.clients.consumer.StickyAssignor;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * A classic-protocol group member: reports every assignment change (the full owned set, the
 * generation and member id) and every record it reads, committing after each poll, until stdin
 * says "close". A member with group.instance.id does not leave the group on close (static).
 */
final class Member {
    static final Comparator<TopicPartition> ORDER =
            Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition);

    static String assignorClass(String name) {
        switch (name) {
            case "range": return RangeAssignor.class.getName();
            case "roundrobin": return RoundRobinAssignor.class.getName();
            case "sticky": return StickyAssignor.class.getName();
            case "cooperative-sticky": return CooperativeStickyAssignor.class.getName();
            default: throw new IllegalArgumentException("unknown assignor " + name);
        }
    }

    static List<Object> pairs(Collection<TopicPartition> tps) {
        List<Object> out = new ArrayList<>();
        for (TopicPartition tp : tps) out.add(List.of(tp.topic(), tp.partition()));
        return out;
    }

    static void run(String[] a) throws Exception {
        String bootstrap = a[0], group = a[1], topic = a[2];
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, assignorClass(a[3]));
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
        p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "500");
        p.put(ConsumerConfig.METADATA_MAX_AGE_CONFIG, "2000");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.putAll(Driver.props(a, 4));

        Set<TopicPartition> owned = new TreeSet<>(ORDER);
        AtomicBoolean closing = new AtomicBoolean();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
            ConsumerRebalanceListener listener = new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> parts) {
                    owned.addAll(parts);
                    report(c, owned, "assigned_now", parts);
                }

                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> parts) {
                    if (!parts.isEmpty()) commit(c);
                    owned.removeAll(parts);
                    report(c, owned, "revoked_now", parts);
                }

                @Override
                public void onPartitionsLost(Collection<TopicPartition> parts) {
                    owned.removeAll(parts);
                    report(c, owned, "lost_now", parts);
                }
            };
            c.subscribe(List.of(topic), listener);
            Thread stdin = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = r.readLine()) != null && !line.trim().equals("close")) { }
                } catch (Exception ignored) {
                    // stdin gone: close as for "close"
                }
                closing.set(true);
                c.wakeup();
            });
            stdin.setDaemon(true);
            stdin.start();
            Driver.emit(Driver.obj("started", true));
            while (!closing.get()) {
                try {
                    ConsumerRecords<String, String> rs = c.poll(Duration.ofMillis(200));
                    for (ConsumerRecord<String, String> r : rs) Driver.emit(Driver.obj("record", record(r)));
                    if (!rs.isEmpty()) commit(c);
                } catch (WakeupException e) {
                    break;
                }
            }
        }
        Driver.emit(Driver.obj("closed", true));
    }

    static void commit(KafkaConsumer<String, String> c) {
        try {
            c.commitSync();
        } catch (RuntimeException e) {
            Driver.emit(Driver.obj("commit_error", Driver.failure(e)));
        }
    }

    static void report(KafkaConsumer<String, String> c, Set<TopicPartition> owned, String what,
                       Collection<TopicPartition> parts) {
        Driver.emit(Driver.obj("assigned", pairs(owned), what, pairs(parts),
                "generation", c.groupMetadata().generationId(), "member_id", c.groupMetadata().memberId()));
    }

    static Map<String, Object> record(ConsumerRecord<String, String> r) {
        List<Object> headers = new ArrayList<>();
        for (Header h : r.headers()) headers.add(List.of(h.key(), new String(h.value(), StandardCharsets.UTF_8)));
        return Driver.obj("topic", r.topic(), "partition", r.partition(), "offset", r.offset(),
                "key", r.key(), "value", r.value(), "headers", headers, "timestamp", r.timestamp());
    }
}
