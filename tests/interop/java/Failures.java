import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Error paths of the Java client, each printed as {"case", "exception", "message"} (or "ok"):
 * `failures BOOTSTRAP TOPIC` on a fresh topic name; `unknown-topic BOOTSTRAP TOPIC` for a
 * broker with auto.create.topics.enable=false.
 */
final class Failures {
    static void check(String name, Callable<Object> body) {
        Map<String, Object> out = Driver.obj("case", name);
        try {
            Object r = body.call();
            out.put("ok", true);
            out.put("result", r);
        } catch (Exception e) {
            out.putAll(Driver.failure(e));
        }
        Driver.emit(out);
    }

    static Properties common(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        return p;
    }

    static KafkaProducer<byte[], byte[]> producer(String bootstrap, Object... kv) {
        Properties p = common(bootstrap);
        for (int i = 0; i < kv.length; i += 2) p.put(kv[i], kv[i + 1]);
        return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    }

    static KafkaConsumer<byte[], byte[]> consumer(String bootstrap, Object... kv) {
        Properties p = common(bootstrap);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        for (int i = 0; i < kv.length; i += 2) p.put(kv[i], kv[i + 1]);
        return new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    static void run(String[] a) throws Exception {
        String bootstrap = a[0], topic = a[1];
        String missing = topic + "-missing";
        TopicPartition p0 = new TopicPartition(topic, 0);
        try (Admin admin = Admin.create(common(bootstrap))) {
            admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).all().get();
            try (KafkaProducer<byte[], byte[]> p = producer(bootstrap)) {
                for (int i = 0; i < 10; i++) p.send(new ProducerRecord<>(topic, 0, null, new byte[] {(byte) i})).get();
            }
            check("describe_unknown_topic", () -> admin.describeTopics(List.of(missing)).allTopicNames().get().size());
            check("delete_unknown_topic", () -> { admin.deleteTopics(List.of(missing)).all().get(); return null; });
            check("create_invalid_name", () -> { admin.createTopics(List.of(new NewTopic("bad/name", 1, (short) 1))).all().get(); return null; });
            check("create_existing", () -> { admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(); return null; });
            check("create_zero_partitions", () -> { admin.createTopics(List.of(new NewTopic(missing, 0, (short) 1))).all().get(); return null; });
            check("create_replication_factor_3", () -> { admin.createTopics(List.of(new NewTopic(missing, 1, (short) 3))).all().get(); return null; });
            check("create_bad_config_value", () -> {
                admin.createTopics(List.of(new NewTopic(missing, 1, (short) 1).configs(Map.of("retention.ms", "abc")))).all().get();
                return null;
            });
            check("create_unknown_config", () -> {
                admin.createTopics(List.of(new NewTopic(missing, 1, (short) 1).configs(Map.of("no.such.config", "1")))).all().get();
                return null;
            });
            check("shrink_partitions", () -> { admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(1))).all().get(); return null; });
            check("describe_configs_unknown_topic", () -> {
                ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, missing);
                return admin.describeConfigs(List.of(r)).all().get().get(r).entries().size();
            });
            check("alter_config_bad_value", () -> {
                ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
                AlterConfigOp op = new AlterConfigOp(new ConfigEntry("retention.ms", "abc"), AlterConfigOp.OpType.SET);
                admin.incrementalAlterConfigs(Map.of(r, List.of(op))).all().get();
                return null;
            });
            check("delete_unknown_group", () -> { admin.deleteConsumerGroups(List.of(topic + "-no-group")).all().get(); return null; });
            String group = topic + "-busy";
            try (KafkaConsumer<byte[], byte[]> member = consumer(bootstrap, ConsumerConfig.GROUP_ID_CONFIG, group)) {
                member.subscribe(List.of(topic));
                long deadline = System.currentTimeMillis() + 30_000;
                while (member.assignment().isEmpty() && System.currentTimeMillis() < deadline) member.poll(Duration.ofMillis(100));
                check("delete_nonempty_group", () -> { admin.deleteConsumerGroups(List.of(group)).all().get(); return null; });
            }
        }
        check("record_too_large_for_client", () -> {
            try (KafkaProducer<byte[], byte[]> p = producer(bootstrap)) {
                return p.send(new ProducerRecord<>(topic, 0, null, new byte[2 * 1024 * 1024])).get().offset();
            }
        });
        check("record_too_large_for_broker", () -> {
            try (KafkaProducer<byte[], byte[]> p = producer(bootstrap, ProducerConfig.MAX_REQUEST_SIZE_CONFIG, "4194304",
                    ProducerConfig.BUFFER_MEMORY_CONFIG, "8388608")) {
                return p.send(new ProducerRecord<>(topic, 0, null, new byte[1536 * 1024])).get().offset();
            }
        });
        check("offset_out_of_range", () -> {
            try (KafkaConsumer<byte[], byte[]> c = consumer(bootstrap, ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none")) {
                c.assign(List.of(p0));
                c.seek(p0, 100);
                long deadline = System.currentTimeMillis() + 15_000;
                while (System.currentTimeMillis() < deadline) c.poll(Duration.ofMillis(200));
                return "no exception";
            }
        });
        check("no_committed_offset", () -> {
            try (KafkaConsumer<byte[], byte[]> c = consumer(bootstrap, ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none",
                    ConsumerConfig.GROUP_ID_CONFIG, topic + "-fresh")) {
                c.assign(List.of(p0));
                long deadline = System.currentTimeMillis() + 15_000;
                while (System.currentTimeMillis() < deadline) c.poll(Duration.ofMillis(200));
                return "no exception";
            }
        });
    }

    /** Against a broker that does not create topics on demand. */
    static void unknownTopic(String[] a) throws Exception {
        String bootstrap = a[0], missing = a[1];
        check("produce_unknown_topic", () -> {
            try (KafkaProducer<byte[], byte[]> p = producer(bootstrap, ProducerConfig.MAX_BLOCK_MS_CONFIG, "3000")) {
                return p.send(new ProducerRecord<>(missing, new byte[] {1})).get().offset();
            }
        });
        check("partitions_for_unknown_topic", () -> {
            try (KafkaConsumer<byte[], byte[]> c = consumer(bootstrap, ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "3000")) {
                return c.partitionsFor(missing).size();
            }
        });
        check("end_offsets_unknown_topic", () -> {
            try (KafkaConsumer<byte[], byte[]> c = consumer(bootstrap)) {
                return c.endOffsets(List.of(new TopicPartition(missing, 0)), Duration.ofSeconds(3)).size();
            }
        });
    }
}
