//! The record-batch header lives in `runnel_protocol::records`, the workspace's one
//! record-batch reader; the log re-exports it so its modules keep their short paths.

pub use runnel_protocol::records::header::*;
