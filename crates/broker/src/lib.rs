//! The Runnel broker.
