//! The manifest and the transfer messages (prost).

use bytes::Bytes;

#[derive(Clone, PartialEq, prost::Message)]
pub struct FileMeta {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint64, tag = "2")]
    pub size: u64,
    #[prost(uint32, tag = "3")]
    pub crc32: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Manifest {
    #[prost(uint64, tag = "1")]
    pub group: u64,
    #[prost(uint64, tag = "2")]
    pub index: u64,
    #[prost(uint64, tag = "3")]
    pub term: u64,
    /// rust-protobuf encoded `eraftpb::ConfState`.
    #[prost(bytes = "bytes", tag = "4")]
    pub conf_state: Bytes,
    /// The partition's state record at the snapshot (node-defined).
    #[prost(bytes = "bytes", tag = "5")]
    pub state: Bytes,
    #[prost(message, repeated, tag = "6")]
    pub files: Vec<FileMeta>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum SnapMsgKind {
    /// Receiver -> sender: send `len` bytes of `file` at `offset`.
    Fetch = 0,
    /// Sender -> receiver: the bytes (or `error`).
    Chunk = 1,
    /// Receiver -> leader: the snapshot to `to_replica` failed (`ok` false)
    /// or was installed.
    Status = 2,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SnapMsg {
    #[prost(enumeration = "SnapMsgKind", tag = "1")]
    pub kind: i32,
    #[prost(uint64, tag = "2")]
    pub id: u64,
    #[prost(uint64, tag = "3")]
    pub group: u64,
    #[prost(uint64, tag = "4")]
    pub index: u64,
    #[prost(uint64, tag = "5")]
    pub term: u64,
    #[prost(string, tag = "6")]
    pub file: String,
    #[prost(uint64, tag = "7")]
    pub offset: u64,
    #[prost(uint64, tag = "8")]
    pub len: u64,
    #[prost(bytes = "bytes", tag = "9")]
    pub data: Bytes,
    #[prost(string, tag = "10")]
    pub error: String,
    #[prost(bool, tag = "11")]
    pub ok: bool,
    #[prost(uint64, tag = "12")]
    pub to_replica: u64,
}
