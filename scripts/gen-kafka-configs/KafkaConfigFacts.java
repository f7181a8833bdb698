// Prints, as JSON on stdout, what Kafka's own config definitions say about every broker and
// topic key: type, default, validator, whether it is internal, its dynamic-update mode
// (DynamicBrokerConfig.dynamicConfigUpdateModes, the "Update Mode" column of Kafka's docs) and
// the topic -> broker synonyms (ServerTopicConfigSynonyms). DescribeConfigs does not carry the
// validators or modes; scripts/gen-kafka-configs.py merges both.
//
// Run with the Kafka jars on the class path (Java 11+ runs a single source file directly):
//   java -cp "$(scripts/kafka-ref.sh classpath)" scripts/gen-kafka-configs/KafkaConfigFacts.java
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.server.config.ConfigSynonym;
import org.apache.kafka.server.config.DynamicBrokerConfig;
import org.apache.kafka.server.config.ServerTopicConfigSynonyms;
import org.apache.kafka.storage.internals.log.LogConfig;

public class KafkaConfigFacts {
    static String q(Object o) {
        if (o == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char c : o.toString().toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    static String defaultOf(ConfigDef.ConfigKey k) {
        if (!k.hasDefault() || k.defaultValue == null || k.type == ConfigDef.Type.PASSWORD) return null;
        return ConfigDef.convertToString(k.defaultValue, k.type);
    }

    static void keys(StringBuilder out, String label, Map<String, ConfigDef.ConfigKey> keys, Map<String, String> modes) {
        out.append(q(label)).append(": {\n");
        int i = 0;
        for (ConfigDef.ConfigKey k : new TreeMap<>(keys).values()) {
            if (i++ > 0) out.append(",\n");
            out.append(q(k.name)).append(": {\"type\": ").append(q(k.type))
               .append(", \"default\": ").append(q(defaultOf(k)))
               .append(", \"validator\": ").append(q(k.validator))
               .append(", \"validator_class\": ").append(q(k.validator == null ? null : k.validator.getClass().getSimpleName()))
               .append(", \"internal\": ").append(k.internalConfig)
               .append(", \"mode\": ").append(q(modes == null ? null : modes.get(k.name)))
               .append(", \"documentation\": ").append(q(k.documentation)).append("}");
        }
        out.append("\n}");
    }

    public static void main(String[] args) {
        StringBuilder out = new StringBuilder("{\n");
        keys(out, "broker", kafka.server.KafkaConfig$.MODULE$.configDef().configKeys(),
             DynamicBrokerConfig.dynamicConfigUpdateModes());
        out.append(",\n");
        keys(out, "topic", LogConfig.configKeys(), null);
        out.append(",\n\"synonyms\": {\n");
        int i = 0;
        for (var e : new TreeMap<>(ServerTopicConfigSynonyms.ALL_TOPIC_CONFIG_SYNONYMS).entrySet()) {
            if (i++ > 0) out.append(",\n");
            out.append(q(e.getKey())).append(": [");
            int j = 0;
            for (ConfigSynonym s : e.getValue()) {
                String conv = s.converter() == ConfigSynonym.HOURS_TO_MILLISECONDS ? "hours"
                    : s.converter() == ConfigSynonym.MINUTES_TO_MILLISECONDS ? "minutes" : "same";
                out.append(j++ > 0 ? ", " : "").append("[").append(q(s.name())).append(", ").append(q(conv)).append("]");
            }
            out.append("]");
        }
        out.append("\n}\n}\n");
        System.out.print(out);
    }
}
