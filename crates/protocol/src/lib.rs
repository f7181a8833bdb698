//! Kafka wire framing and codec glue.
