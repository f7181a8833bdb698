import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;

/**
 * The interop suite's Java client driver (tests/interop/test_java_client.py, test_mixed_groups.py):
 * compiled once per session against kafka-clients by tests/interop/jvm.py. Each subcommand prints
 * JSON lines on stdout, one object per event or step.
 *
 * <pre>
 *   produce  BOOTSTRAP TOPIC COUNT VALUE_BYTES [key=value ...]   producer config overrides; driver.partition=N pins a partition
 *   member   BOOTSTRAP GROUP TOPIC ASSIGNOR [key=value ...]      a group member until stdin says "close"
 *   admin    BOOTSTRAP TOPIC GROUP                               Admin client operations, one line per step
 *   failures BOOTSTRAP TOPIC                                     error paths, the exception each one raises
 *   unknown-topic BOOTSTRAP TOPIC                                the same for a topic that does not exist (no auto-create)
 * </pre>
 */
public final class Driver {
    static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: Driver produce|member|admin|failures BOOTSTRAP ...");
            System.exit(2);
        }
        String[] rest = Arrays.copyOfRange(args, 1, args.length);
        switch (args[0]) {
            case "produce": Produce.run(rest); break;
            case "member": Member.run(rest); break;
            case "admin": AdminOps.run(rest); break;
            case "failures": Failures.run(rest); break;
            case "unknown-topic": Failures.unknownTopic(rest); break;
            default:
                System.err.println("unknown subcommand " + args[0]);
                System.exit(2);
        }
    }

    /** key=value arguments from index `from` on. */
    static Properties props(String[] args, int from) {
        Properties p = new Properties();
        for (int i = from; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq < 0) throw new IllegalArgumentException("want key=value, got " + args[i]);
            p.setProperty(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        return p;
    }

    static synchronized void emit(Map<String, ?> m) {
        OUT.println(json(m));
    }

    static Map<String, Object> obj(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
        return m;
    }

    /** The exception a failed call raised, unwrapped from the future's ExecutionException. */
    static Throwable cause(Throwable t) {
        while (t instanceof ExecutionException && t.getCause() != null) t = t.getCause();
        return t;
    }

    static Map<String, Object> failure(Throwable t) {
        Throwable c = cause(t);
        return obj("exception", c.getClass().getSimpleName(), "message", String.valueOf(c.getMessage()));
    }

    static String json(Object v) {
        StringBuilder sb = new StringBuilder();
        write(sb, v);
        return sb.toString();
    }

    private static void write(StringBuilder sb, Object v) {
        if (v == null) {
            sb.append("null");
        } else if (v instanceof Map) {
            sb.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                if (!first) sb.append(',');
                first = false;
                write(sb, String.valueOf(e.getKey()));
                sb.append(':');
                write(sb, e.getValue());
            }
            sb.append('}');
        } else if (v instanceof Collection) {
            sb.append('[');
            boolean first = true;
            for (Object o : (Collection<?>) v) {
                if (!first) sb.append(',');
                first = false;
                write(sb, o);
            }
            sb.append(']');
        } else if (v instanceof Number || v instanceof Boolean) {
            sb.append(v);
        } else {
            String s = v.toString();
            sb.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                if (c == '"' || c == '\\') sb.append('\\').append(c);
                else if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                else sb.append(c);
            }
            sb.append('"');
        }
    }
}
