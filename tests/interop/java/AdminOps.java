import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/** Admin client operations in a fixed order against one fresh topic and group. */
final class AdminOps {
    static void step(String name, Callable<Map<String, Object>> body) {
        Map<String, Object> out = Driver.obj("step", name);
        try {
            out.putAll(body.call());
        } catch (Exception e) {
            out.putAll(Driver.failure(e));
        }
        Driver.emit(out);
    }

    static Map<String, Object> entry(ConfigEntry e) {
        if (e == null) return null;
        return Driver.obj("value", e.value(), "source", e.source().name(), "read_only", e.isReadOnly(),
                "sensitive", e.isSensitive());
    }

    static Config configs(Admin admin, ConfigResource r) throws Exception {
        return admin.describeConfigs(List.of(r)).all().get().get(r);
    }

    /**
     * Kafka applies admin changes through its metadata log: a broker shows them a moment after
     * the call returns. Reads until `ok` holds (or 15 s pass) and returns the last read.
     */
    static <T> T until(Callable<T> read, java.util.function.Predicate<T> ok) throws Exception {
        long deadline = System.currentTimeMillis() + 15_000;
        while (true) {
            try {
                T last = read.call();
                if (ok.test(last) || System.currentTimeMillis() >= deadline) return last;
            } catch (Exception e) {
                if (System.currentTimeMillis() >= deadline) throw e;
            }
            Thread.sleep(100);
        }
    }

    static void run(String[] a) throws Exception {
        String bootstrap = a[0], topic = a[1], group = a[2];
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        ConfigResource topicRes = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        TopicPartition p0 = new TopicPartition(topic, 0);
        try (Admin admin = Admin.create(p)) {
            step("describe_cluster", () -> {
                DescribeClusterResult c = admin.describeCluster();
                List<Object> nodes = new ArrayList<>();
                for (Node n : c.nodes().get()) nodes.add(Driver.obj("id", n.id(), "host", n.host(), "port", n.port()));
                return Driver.obj("cluster_id", c.clusterId().get(), "controller", c.controller().get().id(), "nodes", nodes);
            });
            step("create_topic", () -> {
                NewTopic t = new NewTopic(topic, 3, (short) 1).configs(Map.of("retention.ms", "3600000"));
                admin.createTopics(List.of(t)).all().get();
                return Driver.obj("ok", true);
            });
            step("create_topic_again", () -> {
                admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1))).all().get();
                return Driver.obj("ok", true);
            });
            step("create_validate_only", () -> {
                String other = topic + "-dry";
                admin.createTopics(List.of(new NewTopic(other, Optional.of(2), Optional.empty())),
                        new CreateTopicsOptions().validateOnly(true)).all().get();
                return Driver.obj("ok", true, "listed", admin.listTopics().names().get().contains(other));
            });
            step("list_topics", () -> {
                boolean found = until(() -> admin.listTopics().listings().get().stream()
                        .anyMatch(l -> l.name().equals(topic) && !l.isInternal()), f -> f);
                return Driver.obj("found", found);
            });
            step("describe_topic", () -> until(() -> describe(admin, topic), d -> true));
            step("describe_topic_config", () -> {
                Config c = configs(admin, topicRes);
                return Driver.obj("retention.ms", entry(c.get("retention.ms")), "cleanup.policy", entry(c.get("cleanup.policy")));
            });
            step("describe_broker_config", () -> {
                Config c = configs(admin, new ConfigResource(ConfigResource.Type.BROKER, "1"));
                return Driver.obj("entries", c.entries().size(), "message.max.bytes", entry(c.get("message.max.bytes")),
                        "broker.id", entry(c.get("broker.id")));
            });
            step("incremental_alter_topic_config", () -> {
                List<AlterConfigOp> ops = List.of(
                        new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                        new AlterConfigOp(new ConfigEntry("cleanup.policy", "compact"), AlterConfigOp.OpType.APPEND));
                admin.incrementalAlterConfigs(Map.of(topicRes, ops)).all().get();
                Config c = until(() -> configs(admin, topicRes), x -> "7200000".equals(x.get("retention.ms").value()));
                return Driver.obj("retention.ms", entry(c.get("retention.ms")), "cleanup.policy", entry(c.get("cleanup.policy")));
            });
            step("create_partitions", () -> {
                admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(5))).all().get();
                return until(() -> describe(admin, topic), d -> ((Map<?, ?>) d.get("partitions")).size() == 5);
            });
            long base = System.currentTimeMillis() - 100_000;
            step("produce", () -> {
                Properties pp = new Properties();
                pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
                try (KafkaProducer<byte[], byte[]> prod = new KafkaProducer<>(pp, new ByteArraySerializer(), new ByteArraySerializer())) {
                    for (int i = 0; i < 10; i++) {
                        prod.send(new ProducerRecord<>(topic, 0, base + i * 1000L, ("k" + i).getBytes(StandardCharsets.UTF_8),
                                ("v" + i).getBytes(StandardCharsets.UTF_8))).get();
                    }
                }
                return Driver.obj("ok", true);
            });
            step("list_offsets", () -> Driver.obj(
                    "earliest", listOffset(admin, p0, OffsetSpec.earliest()),
                    "latest", listOffset(admin, p0, OffsetSpec.latest()),
                    "max_timestamp", listOffset(admin, p0, OffsetSpec.maxTimestamp()),
                    "for_timestamp", listOffset(admin, p0, OffsetSpec.forTimestamp(base + 3500)),
                    "after_last", listOffset(admin, p0, OffsetSpec.forTimestamp(base + 60_000))));
            step("delete_records", () -> {
                long low = admin.deleteRecords(Map.of(p0, RecordsToDelete.beforeOffset(2))).lowWatermarks().get(p0).get().lowWatermark();
                return Driver.obj("low_watermark", low, "earliest", listOffset(admin, p0, OffsetSpec.earliest()));
            });
            step("alter_group_offsets", () -> {
                admin.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(6, "java-meta"))).all().get();
                OffsetAndMetadata o = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get().get(p0);
                return Driver.obj("offset", o.offset(), "metadata", o.metadata());
            });
            step("list_groups", () -> {
                for (GroupListing g : admin.listGroups().all().get()) {
                    if (g.groupId().equals(group)) {
                        return Driver.obj("found", true, "protocol", g.protocol(),
                                "state", g.groupState().map(Enum::name).orElse(null),
                                "type", g.type().map(Enum::name).orElse(null));
                    }
                }
                return Driver.obj("found", false);
            });
            step("describe_group", () -> {
                ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
                return Driver.obj("state", d.groupState().name(), "members", d.members().size(),
                        "coordinator", d.coordinator().id(), "simple", d.isSimpleConsumerGroup());
            });
            step("delete_group_offsets", () -> {
                admin.deleteConsumerGroupOffsets(group, Set.of(p0)).all().get();
                Map<TopicPartition, OffsetAndMetadata> left = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
                return Driver.obj("left", left.size());
            });
            step("delete_group", () -> {
                admin.deleteConsumerGroups(List.of(group)).all().get();
                return Driver.obj("ok", true);
            });
            step("delete_group_again", () -> {
                admin.deleteConsumerGroups(List.of(group)).all().get();
                return Driver.obj("ok", true);
            });
            step("delete_topic", () -> {
                admin.deleteTopics(List.of(topic)).all().get();
                return Driver.obj("ok", true);
            });
            step("describe_deleted_topic", () -> describe(admin, topic));
        }
    }

    static Map<String, Object> describe(Admin admin, String topic) throws Exception {
        TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
        Map<String, Object> parts = new TreeMap<>();
        for (TopicPartitionInfo i : d.partitions()) {
            List<Integer> isr = new ArrayList<>();
            for (Node n : i.isr()) isr.add(n.id());
            parts.put(Integer.toString(i.partition()), Driver.obj("leader", i.leader().id(), "isr", isr));
        }
        return Driver.obj("partitions", parts, "internal", d.isInternal(), "has_topic_id", !d.topicId().toString().equals("AAAAAAAAAAAAAAAAAAAAAA"));
    }

    static Map<String, Object> listOffset(Admin admin, TopicPartition tp, OffsetSpec spec) throws Exception {
        ListOffsetsResultInfo i = admin.listOffsets(Map.of(tp, spec)).all().get().get(tp);
        return Driver.obj("offset", i.offset(), "timestamp", i.timestamp());
    }
}
